import type { Pool } from 'pg';
import { compactTextRun, type EventRow } from '../../stream-log';
import { inTransaction } from '../../client/transaction';

/**
 * The seed's `compact_deltas`, for the stream log: once the final message is durable, each (hop, attempt)'s text
 * deltas collapse into one row (the row format is stream-log/rows.ts). Resuming from any cursor keeps working; the
 * log shrinks to O(hops) rows. Idempotent: rows already compacted are left alone.
 */
export async function compactTextEvents(pool: Pool, turnId: string): Promise<{ before: number; after: number }> {
  return inTransaction(pool, async (db) => {
    const { rows } = await db.query<{
      cursor: string;
      prev: string;
      hop: number;
      attempt: number;
      data: EventRow['data'];
    }>(
      `SELECT cursor, prev, hop, attempt, data FROM turn_events
       WHERE turn_id = $1 AND type = 'text' AND NOT (data ? 'lengths')
       ORDER BY cursor FOR UPDATE`,
      [turnId],
    );
    const runs = new Map<string, EventRow[]>();
    for (const row of rows) {
      const key = `${row.hop}:${row.attempt}`;
      const event: EventRow = { ...row, cursor: Number(row.cursor), prev: Number(row.prev), type: 'text' };
      runs.set(key, [...(runs.get(key) ?? []), event]);
    }
    let after = rows.length;
    for (const run of runs.values()) {
      const merged = compactTextRun(run);
      if (!merged) continue;
      await db.query(`DELETE FROM turn_events WHERE turn_id = $1 AND type = 'text' AND cursor BETWEEN $2 AND $3`, [
        turnId,
        run[0]!.cursor,
        merged.cursor,
      ]);
      await db.query(
        `INSERT INTO turn_events (turn_id, cursor, prev, hop, attempt, type, data) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [turnId, merged.cursor, merged.prev, merged.hop, merged.attempt, merged.type, JSON.stringify(merged.data)],
      );
      after -= run.length - 1;
    }
    return { before: rows.length, after };
  });
}
