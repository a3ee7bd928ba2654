import { setTimeout as sleep } from 'node:timers/promises';
import { isGrpcServiceError, WorkflowFailedError, type Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { temporal as proto } from '@temporalio/proto';
import type { Logger } from 'pino';
import type { TurnClient } from '../client';

/** What {@link watchWorkflow} needs. */
export interface WatchDeps {
  /** When given, the watch is cancelled with its signal (else it lasts until the turn ends). */
  temporal: Client | undefined;
  turns: Pick<TurnClient, 'isQueued' | 'result'>;
  logger: Logger;
}

/**
 * Settles when the turn's workflow closes (or `signal` aborts, when a Temporal client is at hand). A watch
 * that fails without saying the workflow closed (Temporal unreachable, a deadline) says nothing about the
 * turn: the stream goes on from Postgres and the watch is retried with backoff, so no end is announced that
 * did not happen.
 *
 * Every call to Temporal runs under an abort signal of its own, linked to `signal` by a listener removed when
 * the call ends: the Temporal client adds an abort listener per gRPC call to the signal it is given and never
 * removes it, and a watch is a long poll repeated for as long as the turn runs (days, for one waiting on an
 * approval), so handing it `signal` would pile up a listener and a call object per poll.
 */
export async function watchWorkflow(deps: WatchDeps, turnId: string, signal: AbortSignal): Promise<unknown> {
  const temporal = deps.temporal;
  const watchOnce = () => (temporal ? closeOf(temporal, turnId, signal) : deps.turns.result(turnId));
  for (let delayMs: number = WATCH_RETRY_MS.initial; ; delayMs = Math.min(delayMs * 2, WATCH_RETRY_MS.max)) {
    try {
      return await watchOnce();
    } catch (err: unknown) {
      // A turn waiting in its conversation's queue has no workflow yet: watch again until it has one.
      const waiting = err instanceof WorkflowNotFoundError && (await deps.turns.isQueued(turnId));
      if (waiting) {
        await sleep(QUEUED_WATCH_MS, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) throw err;
        delayMs = WATCH_RETRY_MS.initial / 2;
        continue;
      }
      if (signal.aborted || saysWorkflowClosed(err)) throw err;
      deps.logger.warn({ turnId, retryInMs: delayMs, err: errorText(err) }, 'workflow watch failed; retrying');
      await sleep(delayMs, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) throw err;
    }
  }
}

/**
 * The workflow's outcome once it closes: long polls for its close event one call at a time (the server answers
 * each after its long-poll interval, 20 s by default, with nothing while the workflow runs), then reads the
 * outcome with `result()`, which finds the close event at once.
 */
async function closeOf(temporal: Client, workflowId: string, signal: AbortSignal): Promise<unknown> {
  let nextPageToken: Uint8Array | null = null;
  for (;;) {
    const request = {
      namespace: temporal.options.namespace,
      execution: { workflowId },
      skipArchival: true,
      waitNewEvent: true,
      historyEventFilterType: proto.api.enums.v1.HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
      nextPageToken,
    };
    const response = await oneCall(temporal, signal, async (): Promise<HistoryResponse> => {
      try {
        return await temporal.workflowService.getWorkflowExecutionHistory(request);
      } catch (err: unknown) {
        if (isGrpcServiceError(err) && Number(err.code) === GRPC_NOT_FOUND) {
          throw new WorkflowNotFoundError(err.details || 'Workflow not found', workflowId, undefined);
        }
        throw err;
      }
    });
    if ((response.history?.events?.length ?? 0) > 0) break;
    nextPageToken = response.nextPageToken ?? null;
  }
  return oneCall(temporal, signal, () => temporal.workflow.getHandle(workflowId).result());
}

type HistoryResponse = proto.api.workflowservice.v1.IGetWorkflowExecutionHistoryResponse;

/** Runs `call` under a fresh abort signal that `signal` aborts, then unlinks the two (see {@link watchWorkflow}). */
async function oneCall<T>(temporal: Client, signal: AbortSignal, call: () => Promise<T>): Promise<T> {
  signal.throwIfAborted();
  const own = new AbortController();
  const abort = () => own.abort(signal.reason);
  signal.addEventListener('abort', abort, { once: true });
  try {
    return await temporal.withAbortSignal(own.signal, call);
  } finally {
    signal.removeEventListener('abort', abort);
  }
}

const WATCH_RETRY_MS = { initial: 500, max: 10_000 } as const;
/** How often a stream of a queued turn looks whether its workflow has started. */
const QUEUED_WATCH_MS = 250;
/** gRPC's NOT_FOUND status code. */
const GRPC_NOT_FOUND = 5;

/** Only these failures of a result watch mean the workflow is closed (or never existed). */
function saysWorkflowClosed(err: unknown): boolean {
  return err instanceof WorkflowFailedError || err instanceof WorkflowNotFoundError;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
