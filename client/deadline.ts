import type { Client } from '@temporalio/client';

/** What {@link withinDeadline} throws once its deadline passed; `cause` is the aborted call's own error. */
export class CallDeadlineError extends Error {
  override readonly name = 'CallDeadlineError';

  constructor(
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(`no answer within ${timeoutMs} ms`, options);
  }
}

/**
 * `call` (a query or an update of a workflow, or an update-with-start), given up after `timeoutMs`. Such a call is
 * answered only when a worker runs one of the workflow's tasks: with none polling it would wait for ever, and a
 * caller must get an answer it can act on instead.
 * @throws CallDeadlineError once the deadline passed; the call's own error before that
 */
export async function withinDeadline<T>(temporal: Client, timeoutMs: number, call: () => Promise<T>): Promise<T> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeoutMs);
  try {
    return await temporal.withAbortSignal(deadline.signal, call);
  } catch (err: unknown) {
    if (deadline.signal.aborted) throw new CallDeadlineError(timeoutMs, { cause: err });
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
