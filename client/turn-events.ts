import type pg from 'pg';
import { isTerminal, type TurnEvent } from '../common';
import type { EventHub, LiveMessage } from './event-hub';
import { storedEventsAfter, terminalCursor } from './store';

/** Options of {@link turnEvents}. */
export interface TurnEventsOptions {
  /** Deliver events after this cursor (0 = from the start). @default 0 */
  after?: number;
  /** Ends the iteration. */
  signal?: AbortSignal;
  /** While a gap waits for its rows to be stored, read the stored stream this often. @default 100 */
  pollMs?: number;
}

/**
 * A turn's events after a cursor, live and gap-free: stored events first, then live ones as they are
 * announced. A live event is delivered only when its `prev` shows nothing is missing before it; otherwise the
 * missing events are read from Postgres (they are stored within the writer's flush interval). Events at or
 * below the last delivered cursor are dropped, so nothing is delivered twice. Ends after `done` or `error`.
 */
export async function* turnEvents(
  db: pg.Pool,
  hub: EventHub,
  turnId: string,
  opts: TurnEventsOptions = {},
): AsyncGenerator<TurnEvent, void, undefined> {
  let last = opts.after ?? 0;
  const pollMs = opts.pollMs ?? 100;
  const pending = new Map<number, TurnEvent>();
  let needsRead = true;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const onLive = (message: LiveMessage) => {
    if (message.kind === 'event') {
      if (message.event.cursor > last) pending.set(message.event.cursor, message.event);
    } else {
      needsRead = true;
    }
    notify();
  };
  const onAbort = () => notify();
  opts.signal?.addEventListener('abort', onAbort);
  const unsubscribe = await hub.subscribe(turnId, onLive);
  // A reader that already saw the end gets nothing more, and must not wait for events that will never come.
  if (last > 0 && (await terminalCursor(db, turnId)) <= last) {
    unsubscribe();
    return;
  }

  try {
    for (;;) {
      if (opts.signal?.aborted) return;
      if (needsRead) {
        needsRead = false;
        for (const event of await storedEventsAfter(db, turnId, last)) {
          if (event.cursor <= last) continue;
          last = event.cursor;
          yield event;
          if (isTerminal(event)) return;
        }
      }
      // Live events in cursor order, as long as each one follows what was delivered.
      let gap = false;
      for (const cursor of [...pending.keys()].sort((a, b) => a - b)) {
        const event = pending.get(cursor)!;
        if (cursor <= last) {
          pending.delete(cursor);
          continue;
        }
        if (event.prev > last) {
          gap = true;
          break;
        }
        pending.delete(cursor);
        last = cursor;
        yield event;
        if (isTerminal(event)) return;
      }
      if (needsRead || opts.signal?.aborted) continue;
      if (!gap && hasDeliverable(pending, last)) continue;
      await new Promise<void>((resolve) => {
        wake = resolve;
        // A gap is filled by rows being stored, which rings no bell: read the stored stream again soon.
        if (gap) {
          setTimeout(() => {
            needsRead = true;
            notify();
          }, pollMs).unref();
        }
      });
    }
  } finally {
    unsubscribe();
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

function hasDeliverable(pending: Map<number, TurnEvent>, last: number): boolean {
  for (const event of pending.values()) if (event.cursor > last && event.prev <= last) return true;
  return false;
}
