import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { isTerminal, type TurnEvent } from '../common';
import type { TurnClient } from '../client';
import { describeClosure, type TurnClosure } from './outcome';
import { watchWorkflow } from './watch';

/** What {@link followTurn} needs. */
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
export class StalledReaderError extends Error {
  override readonly name = 'StalledReaderError';
}

/** Waits for `write`, failing with {@link StalledReaderError} after `ms` (0 = waits as long as it takes). */
export async function within(ms: number, write: Promise<unknown>): Promise<void> {
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

/** Why an event stream ended (logged). */
export type EndReason = 'terminal' | 'paused' | 'client-closed' | 'turn-closed' | 'failed' | 'stalled';

/**
 * Where {@link followTurn} delivers a turn: its events in order, a keep-alive when nothing happened for a while, and
 * why the turn closed when its workflow ended without a terminal event in its stream. Each write may wait for the
 * reader (backpressure); {@link followTurn} bounds that wait.
 */
export interface TurnSink {
  event(event: TurnEvent): Promise<void>;
  keepAlive(): Promise<void>;
  closure(closure: TurnClosure): Promise<void>;
  /** Asked after each event the sink took: `true` ends the stream there (`paused`) though the turn goes on. */
  pauseAfter?(event: TurnEvent): Promise<boolean>;
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

/**
 * Follows a turn's events after `state.last` into `sink` until its terminal event, the sink asking to pause,
 * the reader going away (`gone`),
 * or its workflow closing without a terminal event (then the stored events are flushed and `sink.closure` says
 * why). `state.last` is the cursor of the last event the sink took.
 * @throws StalledReaderError when one write waits longer than `writeTimeoutMs`; any failure of the event read.
 */
export async function followTurn(
  sink: TurnSink,
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
    await within(deps.writeTimeoutMs, sink.event(event));
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
          await within(deps.writeTimeoutMs, sink.keepAlive());
          break;
        case 'next':
          if (step.result.done) return stop.signal.aborted ? 'client-closed' : 'terminal';
          await send(step.result.value);
          if (isTerminal(step.result.value)) return 'terminal';
          if (sink.pauseAfter && (await sink.pauseAfter(step.result.value))) return 'paused';
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
          await within(deps.writeTimeoutMs, sink.closure(step.closure));
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
