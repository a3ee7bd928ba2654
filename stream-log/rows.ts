import { z } from 'zod';
import { TurnEvent, type TurnEventType } from '../common';

/**
 * The row format of the stream log: how a {@link TurnEvent} is stored in `turn_events`.
 *
 * The envelope (`turn_id`, `cursor`, `prev`, `hop`, `attempt`, `type`) has columns of its own; `data` (jsonb)
 * holds every other field of the event. `event_key` is a logical key (see `common/keys.ts`) for events that must
 * be stored once whichever attempt writes them; text rows have none.
 *
 * Once a turn's final message is stored, each (hop, attempt)'s run of text rows with consecutive cursors is
 * compacted into one row at the run's last cursor whose `data` is a {@link CompactedText}, so the log holds
 * O(hops) rows while a reader resuming from any cursor inside the run is still given exactly the text after it.
 */

/** The columns of one `turn_events` row as a writer inserts it and a reader selects it. */
export interface EventRow {
  cursor: number;
  prev: number;
  hop: number;
  attempt: number;
  type: TurnEventType;
  data: Record<string, unknown>;
}

/** `data` of a compacted run of text rows. */
export const CompactedText = z.object({
  text: z.string(),
  /** Cursor of the run's first delta; the run's deltas had consecutive cursors up to the row's own. */
  firstCursor: z.number().int().positive(),
  /** Length (UTF-16 code units) of each delta of the run, in order. */
  lengths: z.array(z.number().int().nonnegative()),
});
export type CompactedText = z.infer<typeof CompactedText>;

/** The row an event is stored as (the turn id is the row's `turn_id`). */
export function encodeEventRow(event: TurnEvent): EventRow {
  const { turnId: _t, cursor, prev, hop, attempt, type, ...data } = event;
  return { cursor, prev, hop, attempt, type, data };
}

/** True for a row that already holds a compacted run (compaction leaves it alone). */
export function isCompacted(row: Pick<EventRow, 'type' | 'data'>): boolean {
  return row.type === 'text' && Array.isArray(row.data['lengths']);
}

/**
 * The row that replaces a run of text rows of one (hop, attempt), or `undefined` when the run cannot be
 * compacted: fewer than two rows, or cursors that are not consecutive (only a contiguous run can be indexed by
 * cursor offset). `run` is in cursor order.
 */
export function compactTextRun(run: readonly EventRow[]): EventRow | undefined {
  const first = run[0];
  const last = run.at(-1);
  if (!first || !last || run.length < 2 || last.cursor - first.cursor !== run.length - 1) return undefined;
  const texts = run.map((row) => textOf(row));
  const data: CompactedText = { text: texts.join(''), firstCursor: first.cursor, lengths: texts.map((t) => t.length) };
  return { cursor: last.cursor, prev: first.prev, hop: first.hop, attempt: first.attempt, type: 'text', data };
}

/**
 * The event a reader that has seen everything up to `after` gets from a stored row, or `undefined` when the row
 * holds nothing new for it (a compacted run it has seen in full). A compacted run it has seen part of is given
 * as one text event with the rest of the run's text, at the run's last cursor, whose `prev` is `after`.
 * @throws ZodError for a row that is not a valid event (the log is written only by turnflow).
 */
export function decodeEventRow(turnId: string, row: EventRow, after: number): TurnEvent | undefined {
  let data = row.data;
  let prev = row.prev;
  if (isCompacted(row)) {
    const run = CompactedText.parse(row.data);
    if (after >= row.cursor) return undefined;
    const seen = Math.max(0, after - run.firstCursor + 1);
    const offset = run.lengths.slice(0, seen).reduce((a, b) => a + b, 0);
    data = { text: run.text.slice(offset) };
    if (seen > 0) prev = after;
  }
  return TurnEvent.parse({
    ...data,
    turnId,
    cursor: row.cursor,
    prev,
    hop: row.hop,
    attempt: row.attempt,
    type: row.type,
  });
}

function textOf(row: EventRow): string {
  const text = row.data['text'];
  if (typeof text !== 'string') throw new Error(`text row ${row.cursor} has no text`);
  return text;
}
