import type pg from 'pg';
import type { TurnEvent, TurnEventType } from '../common';
import { decodeEventRow } from '../stream-log';

/** Rows {@link storedEventsAfter} reads at most per call; a full page means more may follow. */
export const STORED_EVENTS_PAGE = 1_000;

/**
 * Stored events of a turn after `after`, in cursor order, at most `limit` (one event per row, so a result of
 * `limit` events means more may be stored: read again after the last one). Rows are decoded by stream-log/rows.ts.
 */
export async function storedEventsAfter(
  db: pg.Pool,
  turnId: string,
  after: number,
  limit = STORED_EVENTS_PAGE,
): Promise<TurnEvent[]> {
  const { rows } = await db.query<{
    cursor: string;
    prev: string;
    hop: number;
    attempt: number;
    type: TurnEventType;
    data: Record<string, unknown>;
  }>(
    `SELECT cursor, prev, hop, attempt, type, data FROM turn_events
     WHERE turn_id = $1 AND cursor > $2 ORDER BY cursor LIMIT $3`,
    [turnId, after, limit],
  );
  const events: TurnEvent[] = [];
  for (const row of rows) {
    const event = decodeEventRow(turnId, { ...row, cursor: Number(row.cursor), prev: Number(row.prev) }, after);
    if (event) events.push(event);
  }
  return events;
}

/** True once the turn's stream holds its terminal event (`done` or `error`). */
export async function hasTerminalEvent(db: pg.Pool, turnId: string): Promise<boolean> {
  const { rows } = await db.query<{ terminal: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM turn_events WHERE turn_id = $1 AND type IN ('done', 'error')) AS terminal`,
    [turnId],
  );
  return rows[0]?.terminal === true;
}

/** A message of a conversation as a user sees it: their messages and the turns' final answers. */
export interface ConversationMessage {
  id: string;
  turnId: string;
  role: 'user' | 'assistant';
  content: string;
  finishReason: string | null;
  model: string | null;
  createdAt: string;
}

/** The conversation of `tenant` as the user saw it, oldest first (another tenant's is as empty as a missing one). */
export async function conversationMessages(
  db: pg.Pool,
  tenant: string,
  conversationId: string,
  opts: { limit?: number; before?: string } = {},
): Promise<ConversationMessage[]> {
  const { rows } = await db.query<{
    id: string;
    turn_id: string;
    kind: 'user' | 'steer' | 'final';
    content: string | null;
    finish_reason: string | null;
    model: string | null;
    created_at: Date;
  }>(
    `SELECT * FROM (
       SELECT id, turn_id, kind, content, finish_reason, model, created_at FROM messages
       WHERE tenant_id = $4 AND conversation_id = $1 AND kind IN ('user', 'steer', 'final')
         AND ($3::bigint IS NULL OR id < $3::bigint)
       ORDER BY id DESC LIMIT $2) recent
     ORDER BY id`,
    [conversationId, opts.limit ?? 100, opts.before ?? null, tenant],
  );
  return rows.map((r) => ({
    id: r.id,
    turnId: r.turn_id,
    role: r.kind === 'final' ? 'assistant' : 'user',
    content: r.content ?? '',
    finishReason: r.finish_reason,
    model: r.model,
    createdAt: r.created_at.toISOString(),
  }));
}

/** The stored final message of a turn. */
export async function finalMessageOf(
  db: pg.Pool,
  turnId: string,
): Promise<{ id: string; content: string } | undefined> {
  const { rows } = await db.query<{ id: string; content: string | null }>(
    `SELECT id, content FROM messages WHERE turn_id = $1 AND kind = 'final'`,
    [turnId],
  );
  const row = rows[0];
  return row && { id: row.id, content: row.content ?? '' };
}

/** Where a stored turn stands (`queued` until its conversation starts it; `steered` into another turn). */
export async function turnState(
  db: pg.Pool,
  turnId: string,
): Promise<{ status: string; steeredInto: string | null } | undefined> {
  const { rows } = await db.query<{ status: string; steered_into: string | null }>(
    `SELECT status, steered_into FROM turns WHERE id = $1`,
    [turnId],
  );
  const row = rows[0];
  return row && { status: row.status, steeredInto: row.steered_into };
}
