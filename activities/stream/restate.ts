import type { PoolClient } from 'pg';
import { eventKeys } from '../../common';
import { cursorAt } from '../../stream-log';

/**
 * Stores, in the caller's transaction, a hop's stored text as a new attempt of the hop: a `reset` superseding every
 * attempt of it so far, then (when there is any) one text row holding `text`. For a hop whose model attempt was lost
 * after announcing deltas it never stored (they are stored in batches): a reader that saw them drops them at the
 * reset and ends with `text`, what the answer holds, as a reader of the stored stream does.
 *
 * Nothing is announced: the turn's next event (its `done`) names the restatement's last cursor as `prev`, so a
 * live reader finds the gap and reads these rows from the store first.
 */
export async function storeHopRestatement(db: PoolClient, turnId: string, hop: number, text: string): Promise<void> {
  const { rows } = await db.query<{ segment: number; last: string; superseded: number }>(
    `UPDATE turns SET stream_segment = stream_segment + 1 WHERE id = $1
     RETURNING stream_segment AS segment,
               (SELECT coalesce(max(cursor), 0) FROM turn_events WHERE turn_id = $1) AS last,
               (SELECT coalesce(max(attempt), 1) FROM turn_events WHERE turn_id = $1 AND hop = $2) AS superseded`,
    [turnId, hop],
  );
  const row = rows[0];
  if (!row) throw new Error(`turn ${turnId} does not exist`);
  // A lost attempt k > 1 stored its own reset before announcing any text, so the hop's highest stored attempt is
  // the lost one (or attempt 1, which may have stored nothing).
  const attempt = row.superseded + 1;
  const reset = cursorAt(row.segment, 1);
  const events = [
    { cursor: reset, prev: Number(row.last), type: 'reset', data: { supersededAttempt: row.superseded } },
    ...(text === '' ? [] : [{ cursor: reset + 1, prev: reset, type: 'text', data: { text } }]),
  ];
  await db.query(
    `INSERT INTO turn_events (turn_id, cursor, prev, hop, attempt, type, data, event_key)
     SELECT $1, u.cursor, u.prev, $2, $3, u.type, u.data, u.event_key
     FROM unnest($4::bigint[], $5::bigint[], $6::text[], $7::jsonb[], $8::text[]) AS u(cursor, prev, type, data, event_key)`,
    [
      turnId,
      hop,
      attempt,
      events.map((e) => e.cursor),
      events.map((e) => e.prev),
      events.map((e) => e.type),
      events.map((e) => JSON.stringify(e.data)),
      events.map((e) => (e.type === 'reset' ? eventKeys.reset(hop, attempt) : null)),
    ],
  );
}
