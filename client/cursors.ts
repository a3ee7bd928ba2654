import type pg from 'pg';
import { segmentOf } from '../stream-log';

/**
 * Thrown when a reader asks for a turn's events after a cursor the turn never issued: one beyond the turn's
 * terminal event, or in a segment no writer of the turn has claimed (typically a cursor of another turn). Such a
 * reader would otherwise wait for events that never come, because every event it is owed lies "before" its cursor.
 */
export class CursorOutOfRangeError extends Error {
  override readonly name = 'CursorOutOfRangeError';

  constructor(
    readonly turnId: string,
    readonly after: number,
    /** Why the cursor cannot be one of the turn's. */
    readonly reason: 'beyond_end' | 'unknown_segment',
  ) {
    super(
      reason === 'beyond_end'
        ? `cursor ${after} lies beyond the end of turn ${turnId}`
        : `cursor ${after} was never issued by turn ${turnId}`,
    );
  }
}

/**
 * Checks that `after` can be a cursor of the turn before a reader waits on it. `'ended'` means the reader has
 * already seen the turn's terminal event (`after` is its cursor): there is nothing more to deliver. `'open'`
 * means events after `after` are stored or may still come. Cursors that were shown live but never stored (an
 * attempt that died) are accepted: they lie in a segment the turn has claimed.
 *
 * @throws CursorOutOfRangeError for a cursor beyond the terminal event or in a segment the turn never claimed.
 */
export async function checkCursor(db: pg.Pool, turnId: string, after: number): Promise<'open' | 'ended'> {
  if (after === 0) return 'open';
  const { rows } = await db.query<{ segment: number; terminal: string | null }>(
    `SELECT t.stream_segment AS segment,
            (SELECT cursor FROM turn_events WHERE turn_id = t.id AND type IN ('done', 'error')
             ORDER BY cursor LIMIT 1) AS terminal
     FROM turns t WHERE t.id = $1`,
    [turnId],
  );
  const row = rows[0];
  // A turn without its row has stored nothing and claimed no segment, so it has issued no cursor yet.
  const segment = row?.segment ?? 0;
  if (row?.terminal != null) {
    const terminal = Number(row.terminal);
    if (after === terminal) return 'ended';
    if (after > terminal) throw new CursorOutOfRangeError(turnId, after, 'beyond_end');
  }
  if (segmentOf(after) > segment) throw new CursorOutOfRangeError(turnId, after, 'unknown_segment');
  return 'open';
}
