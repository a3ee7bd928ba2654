import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import type { Logger } from 'pino';
import { isTerminal, type TurnEvent } from '../common';
import type { TurnClient } from '../client';
import { describeClosure, type TurnClosure } from './outcome';

/** What {@link streamTurnEvents} needs. */
export interface StreamDeps {
  /** Every read of the turn's stream goes through it: the gateway runs no SQL on the stream log of its own. */
  turns: TurnClient;
  /** When given, the workflow watch of a stream is cancelled with the stream (else it lasts until the turn ends). */
  temporal: Client | undefined;
  /** Idle time after which a `: keep-alive` comment is sent. */
  keepAliveMs: number;
  /** A write the reader does not take within this time (backpressure) disconnects it; 0 = never. */
  writeTimeoutMs: number;
  logger: Logger;
}

/** A reader that stopped reading: one write waited longer than `writeTimeoutMs` for it. */
class StalledReaderError extends Error {
  override readonly name = 'StalledReaderError';
}

/** Waits for `write`, failing with {@link StalledReaderError} after `ms` (0 = waits as long as it takes). */
async function within(ms: number, write: Promise<unknown>): Promise<void> {
  if (ms <= 0) {
    await write;
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StalledReaderError(`the reader took no data for ${ms} ms`)), ms);
  });
  try {
    await Promise.race([write, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

/** The answer to `HEAD` on an event stream: its headers, and no subscription behind them. */
export function eventStreamHead(c: Context): Response {
  return c.body(null, 200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
}

/** Why an event stream ended (logged). */
type EndReason = 'terminal' | 'client-closed' | 'turn-closed' | 'failed' | 'stalled';

/**
 * Answers with the turn's events after `after` as Server-Sent Events: `id:` is the event's cursor (so
 * `Last-Event-ID` resumes), `event:` its type, `data:` the event as JSON. A `: keep-alive` comment is sent after
 * `keepAliveMs` without events. The stream ends after `done` or `error`. If the turn's workflow closes without
 * either in its stream, the stored events are flushed and a final `event: error` without an `id:` says why.
 * A client that goes away only stops this subscription; the turn runs on. So does a client that stops reading:
 * after `writeTimeoutMs` of backpressure its connection is cut. `onEnd` runs once when the stream is over.
 */
export function streamTurnEvents(
  c: Context,
  deps: StreamDeps,
  turnId: string,
  after: number,
  onEnd: () => void = () => undefined,
): Response {
  return streamSSE(c, async (stream) => {
    const gone = new AbortController();
    const onGone = () => gone.abort();
    stream.onAbort(onGone);
    c.req.raw.signal.addEventListener('abort', onGone, { once: true });
    const state = { last: after };
    let reason: EndReason;
    try {
      reason = await pump(stream, deps, turnId, state, gone.signal);
    } catch (err: unknown) {
      if (err instanceof StalledReaderError) {
        reason = 'stalled';
        disconnect(c, stream);
      } else {
        reason = 'failed';
        deps.logger.error({ err, turnId, last: state.last }, 'event stream failed');
        await within(
          deps.writeTimeoutMs,
          writeFinalError(stream, turnId, {
            errorType: 'gateway.stream_failed',
            message: 'the event stream failed; reconnect with Last-Event-ID to resume',
          }),
        ).catch(() => disconnect(c, stream));
      }
    } finally {
      c.req.raw.signal.removeEventListener('abort', onGone);
      onEnd();
    }
    deps.logger.debug({ turnId, after, last: state.last, reason }, 'event stream ended');
  });
}

type Step =
  | { kind: 'next'; result: IteratorResult<TurnEvent, void> }
  | { kind: 'failed'; err: unknown }
  | { kind: 'idle' }
  | { kind: 'gone' }
  | { kind: 'closed'; closure: TurnClosure };

/**
 * What the pump waits for, in arrival order. One queue instead of `Promise.race` over long-lived promises,
 * which would pile a reaction onto each of them per event for the life of the stream.
 */
class Inbox {
  private readonly steps: Step[] = [];
  private wake: (() => void) | undefined;

  put(step: Step): void {
    this.steps.push(step);
    this.wake?.();
  }

  /** The next step, or `idle` after `idleMs` without one. */
  async take(idleMs: number): Promise<Step> {
    if (this.steps.length === 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        timer = setTimeout(resolve, idleMs);
      });
      clearTimeout(timer);
      this.wake = undefined;
    }
    return this.steps.shift() ?? { kind: 'idle' };
  }
}

async function pump(
  stream: SSEStreamingApi,
  deps: StreamDeps,
  turnId: string,
  state: { last: number },
  gone: AbortSignal,
): Promise<EndReason> {
  const stop = new AbortController();
  const inbox = new Inbox();
  const onGone = () => stop.abort();
  gone.addEventListener('abort', onGone, { once: true });
  stop.signal.addEventListener('abort', () => inbox.put({ kind: 'gone' }), { once: true });
  // Watches the workflow only to notice a turn that closes without a terminal event in its stream.
  watchWorkflow(deps, turnId, stop.signal).then(
    () => inbox.put({ kind: 'closed', closure: describeClosure({ ok: true }) }),
    (err: unknown) => inbox.put({ kind: 'closed', closure: describeClosure({ ok: false, err }) }),
  );
  const iterator = deps.turns.events(turnId, { after: state.last, signal: stop.signal });
  let inFlight: Promise<void> = Promise.resolve();
  const pull = () => {
    inFlight = iterator.next().then(
      (result) => inbox.put({ kind: 'next', result }),
      (err: unknown) => inbox.put({ kind: 'failed', err }),
    );
  };
  const send = async (event: TurnEvent) => {
    await within(
      deps.writeTimeoutMs,
      stream.writeSSE({ id: String(event.cursor), event: event.type, data: JSON.stringify(event) }),
    );
    state.last = event.cursor;
  };
  pull();
  try {
    for (;;) {
      if (stop.signal.aborted) return 'client-closed';
      const step = await inbox.take(deps.keepAliveMs);
      switch (step.kind) {
        case 'gone':
          return 'client-closed';
        case 'failed':
          throw step.err;
        case 'idle':
          await within(deps.writeTimeoutMs, stream.write(': keep-alive\n\n'));
          break;
        case 'next':
          if (step.result.done) return stop.signal.aborted ? 'client-closed' : 'terminal';
          await send(step.result.value);
          if (isTerminal(step.result.value)) return 'terminal';
          pull();
          break;
        case 'closed':
          // A turn whose stream holds its end is followed to it; otherwise flush what is stored and say why.
          if (stop.signal.aborted || (await deps.turns.hasEnded(turnId))) break;
          stop.abort();
          await inFlight;
          for (let page = await deps.turns.storedEvents(turnId, state.last); page.length > 0;) {
            for (const event of page) await send(event);
            page = await deps.turns.storedEvents(turnId, state.last);
          }
          await within(deps.writeTimeoutMs, writeFinalError(stream, turnId, step.closure));
          return 'turn-closed';
      }
    }
  } finally {
    gone.removeEventListener('abort', onGone);
    stop.abort();
    await inFlight;
    await iterator.return(undefined).catch(() => undefined);
  }
}

/**
 * Settles when the turn's workflow closes (or `signal` aborts, when a Temporal client is at hand). A watch
 * that fails without saying the workflow closed (Temporal unreachable, a deadline) says nothing about the
 * turn: the stream goes on from Postgres and the watch is retried with backoff, so no end is announced that
 * did not happen.
 */
async function watchWorkflow(deps: StreamDeps, turnId: string, signal: AbortSignal): Promise<unknown> {
  const temporal = deps.temporal;
  const watchOnce = () =>
    temporal
      ? temporal.withAbortSignal(signal, () => temporal.workflow.getHandle(turnId).result())
      : deps.turns.result(turnId);
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

const WATCH_RETRY_MS = { initial: 500, max: 10_000 } as const;
/** How often a stream of a queued turn looks whether its workflow has started. */
const QUEUED_WATCH_MS = 250;

/** Only these failures of a result watch mean the workflow is closed (or never existed). */
function saysWorkflowClosed(err: unknown): boolean {
  return err instanceof WorkflowFailedError || err instanceof WorkflowNotFoundError;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Cuts the connection of a stalled reader (its buffers are full; nothing more can reach it anyway). */
function disconnect(c: Context, stream: SSEStreamingApi): void {
  stream.abort();
  // On Node (@hono/node-server) the raw response is at hand: destroy its socket so the client sees the end.
  (c.env as { outgoing?: { destroy(): void } } | undefined)?.outgoing?.destroy();
}

async function writeFinalError(stream: SSEStreamingApi, turnId: string, closure: TurnClosure): Promise<void> {
  await stream.writeSSE({ event: 'error', data: JSON.stringify({ turnId, type: 'error', ...closure }) });
}
