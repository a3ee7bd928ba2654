import type pg from 'pg';
import { isTerminal, type TurnEvent } from '../common';
import { checkCursor } from './cursors';
import type { EventHub, LiveMessage } from './event-hub';
import { STORED_EVENTS_PAGE, storedEventsAfter } from './store';

/** Options of {@link turnEvents}. */
export interface TurnEventsOptions {
  /** Deliver events after this cursor (0 = from the start). @default 0 */
  after?: number;
  /** Ends the iteration. */
  signal?: AbortSignal;
  /** While a gap waits for its rows to be stored, read the stored stream this often. @default 100 */
  pollMs?: number;
  /**
   * While nothing is announced, read the stored stream this often anyway: an announcement lost on its way (its
   * writer died after storing, a notification dropped) delays an event by at most this much instead of for ever.
   * @default 10000
   */
  rereadMs?: number;
}

/**
 * A turn's events after a cursor, live and gap-free: stored events first, then live ones as they are
 * announced. A live event is delivered only when its `prev` shows nothing is missing before it; otherwise the
 * missing events are read from Postgres (they are stored within the writer's flush interval). Events at or
 * below the last delivered cursor are dropped, so nothing is delivered twice. Ends after `done` or `error`,
 * whatever cursor it started from: a terminal event at or below `after` is still delivered (the reader's cursor
 * lay beyond the stream, which is all that can be said of it then), and a cursor the turn never issued is refused
 * before any waiting.
 *
 * Ends without a terminal event when the turn is deleted (with its conversation) while it is followed.
 *
 * @throws CursorOutOfRangeError (from the first `next()`) for an `after` beyond the turn's end or never issued.
 */
export async function* turnEvents(
  db: pg.Pool,
  hub: EventHub,
  turnId: string,
  opts: TurnEventsOptions = {},
): AsyncGenerator<TurnEvent, void, undefined> {
  let last = opts.after ?? 0;
  const pollMs = opts.pollMs ?? 100;
  const rereadMs = opts.rereadMs ?? 10_000;
  const pending = new Map<number, TurnEvent>();
  let needsRead = true;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  /** A terminal event announced at or below `last`: the reader's cursor was beyond it, but it must still end. */
  let lateEnd: TurnEvent | undefined;
  /** A doorbell rang since the last read: if the read then finds nothing, the turn may have been deleted. */
  let rang = false;
  /**
   * When the stored stream is read next for a gap, fixed when the gap is first seen: live events arriving meanwhile
   * (every few milliseconds from a streaming model) must not push the read back, or a gap at the start of a stream
   * would wait for the stream to pause before being filled.
   */
  let gapReadAt: number | undefined;
  const onLive = (message: LiveMessage) => {
    // That a worker took the turn stores no event: nothing to read.
    if (message.kind === 'started') return;
    if (message.kind === 'event') {
      if (message.event.cursor > last) pending.set(message.event.cursor, message.event);
      else if (isTerminal(message.event) && message.event.cursor < last) lateEnd = message.event;
    } else {
      needsRead = true;
      rang = true;
    }
    notify();
  };
  const onAbort = () => notify();
  opts.signal?.addEventListener('abort', onAbort);
  const unsubscribe = await hub.subscribe(turnId, onLive);

  try {
    // A reader that already saw the end gets nothing more, and must not wait for events that will never come.
    if ((await checkCursor(db, turnId, last)) === 'ended') return;
    for (;;) {
      if (opts.signal?.aborted) return;
      if (lateEnd) {
        yield lateEnd;
        return;
      }
      if (needsRead) {
        needsRead = false;
        gapReadAt = undefined;
        const afterRing = rang;
        rang = false;
        // Page by page until a page comes back short: a turn may hold far more rows than one page.
        for (let full = true; full;) {
          const page = await storedEventsAfter(db, turnId, last);
          if (afterRing && page.length === 0 && !(await turnExists(db, turnId))) return;
          full = page.length === STORED_EVENTS_PAGE;
          for (const event of page) {
            if (event.cursor <= last) continue;
            last = event.cursor;
            yield event;
            if (isTerminal(event)) return;
          }
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
      if (needsRead || lateEnd || opts.signal?.aborted) continue;
      if (!gap && hasDeliverable(pending, last)) continue;
      if (!gap) gapReadAt = undefined;
      else gapReadAt ??= Date.now() + pollMs;
      await new Promise<void>((resolve) => {
        // A gap is filled by rows being stored, which rings no bell: read the stored stream again soon. Without
        // one, read it now and then all the same, in case an announcement was lost.
        const timer = setTimeout(
          () => {
            needsRead = true;
            notify();
          },
          gapReadAt === undefined ? rereadMs : Math.max(0, gapReadAt - Date.now()),
        );
        timer.unref();
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    unsubscribe();
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

async function turnExists(db: pg.Pool, turnId: string): Promise<boolean> {
  return ((await db.query(`SELECT 1 FROM turns WHERE id = $1`, [turnId])).rowCount ?? 0) > 0;
}

function hasDeliverable(pending: Map<number, TurnEvent>, last: number): boolean {
  for (const event of pending.values()) if (event.cursor > last && event.prev <= last) return true;
  return false;
}
