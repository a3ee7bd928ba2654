/**
 * The cursor scheme of a turn's stream log.
 *
 * A cursor is `segment * 2^32 + n`. Every stream writer of a turn (one per activity attempt) claims the next
 * segment of the turn (`turns.stream_segment`) and numbers its events `n = 1, 2, …` within it, so no two writers
 * ever issue the same cursor and a later writer's cursors sort after every earlier writer's. Cursors are
 * strictly increasing within a turn but not dense: an attempt that dies leaves the rest of its segment unused.
 * Cursors stay below 2^53 (8 million segments per turn), so they are exact as JavaScript numbers.
 */

/** Cursors one writer's segment holds. */
export const SEGMENT_SIZE = 2 ** 32;

/** The cursor of the `n`-th event (from 1) a writer of `segment` issues. */
export function cursorAt(segment: number, n: number): number {
  return segment * SEGMENT_SIZE + n;
}

/** The segment a cursor belongs to (0 for the cursor 0, "before the first event"). */
export function segmentOf(cursor: number): number {
  return Math.floor(cursor / SEGMENT_SIZE);
}
