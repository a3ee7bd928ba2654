import type { Pool } from 'pg';
import { inTransaction } from '../repo/turns';

/**
 * How a compacted run of text rows is stored: one row at the run's last cursor whose `text` is the run's text,
 * with the length of each original delta, so a reader resuming from any cursor inside the run can still be
 * given exactly the text after it (see `expandCompacted` in client/store.ts).
 */
export interface CompactedText {
  text: string;
  /** Cursor of the run's first delta; the run's deltas had consecutive cursors up to the row's own. */
  firstCursor: number;
  /** Length (UTF-16 code units) of each delta of the run, in order. */
  lengths: number[];
}

/**
 * The seed's `compact_deltas`, for the stream log: once the final message is durable, each (hop, attempt)'s text
 * deltas collapse into one row. Resuming from any cursor keeps working; the log shrinks to O(hops) rows.
 * Idempotent: rows already compacted are left alone.
 */
export async function compactTextEvents(pool: Pool, turnId: string): Promise<{ before: number; after: number }> {
  return inTransaction(pool, async (db) => {
    const { rows } = await db.query<{
      cursor: string;
      prev: string;
      hop: number;
      attempt: number;
      data: { text: string };
    }>(
      `SELECT cursor, prev, hop, attempt, data FROM turn_events
       WHERE turn_id = $1 AND type = 'text' AND NOT (data ? 'lengths')
       ORDER BY cursor FOR UPDATE`,
      [turnId],
    );
    const runs = new Map<string, typeof rows>();
    for (const row of rows) {
      const key = `${row.hop}:${row.attempt}`;
      runs.set(key, [...(runs.get(key) ?? []), row]);
    }
    let after = rows.length;
    for (const run of runs.values()) {
      const first = Number(run[0]!.cursor);
      const last = Number(run.at(-1)!.cursor);
      // Only a contiguous run can be indexed by cursor offset; anything else stays as it is.
      if (run.length < 2 || last - first !== run.length - 1) continue;
      const merged: CompactedText = {
        text: run.map((r) => r.data.text).join(''),
        firstCursor: first,
        lengths: run.map((r) => r.data.text.length),
      };
      await db.query(`DELETE FROM turn_events WHERE turn_id = $1 AND type = 'text' AND cursor BETWEEN $2 AND $3`, [
        turnId,
        first,
        last,
      ]);
      await db.query(
        `INSERT INTO turn_events (turn_id, cursor, prev, hop, attempt, type, data) VALUES ($1, $2, $3, $4, $5, 'text', $6)`,
        [turnId, last, run[0]!.prev, run[0]!.hop, run[0]!.attempt, JSON.stringify(merged)],
      );
      after -= run.length - 1;
    }
    return { before: rows.length, after };
  });
}
