import type pg from 'pg';
import { TurnEvent } from '../common';

interface EventRow {
  cursor: string;
  prev: string;
  hop: number;
  attempt: number;
  type: string;
  data: Record<string, unknown>;
}

/** Stored events of a turn after `after`, in cursor order. */
export async function storedEventsAfter(
  db: pg.Pool,
  turnId: string,
  after: number,
  limit = 1_000,
): Promise<TurnEvent[]> {
  const { rows } = await db.query<EventRow>(
    `SELECT cursor, prev, hop, attempt, type, data FROM turn_events
     WHERE turn_id = $1 AND cursor > $2 ORDER BY cursor LIMIT $3`,
    [turnId, after, limit],
  );
  return rows.map((row) =>
    TurnEvent.parse({
      ...row.data,
      turnId,
      cursor: Number(row.cursor),
      prev: Number(row.prev),
      hop: row.hop,
      attempt: row.attempt,
      type: row.type,
    }),
  );
}

/** Who owns a conversation (`undefined` when it does not exist). */
export async function conversationTenant(db: pg.Pool, conversationId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ tenant_id: string }>(`SELECT tenant_id FROM conversations WHERE id = $1`, [
    conversationId,
  ]);
  return rows[0]?.tenant_id;
}

/** Who owns a turn (`undefined` when no such turn is stored). */
export async function turnTenant(db: pg.Pool, turnId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ tenant_id: string }>(
    `SELECT c.tenant_id FROM turns t JOIN conversations c ON c.id = t.conversation_id WHERE t.id = $1`,
    [turnId],
  );
  return rows[0]?.tenant_id;
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

/** The conversation as the user saw it, oldest first. */
export async function conversationMessages(
  db: pg.Pool,
  conversationId: string,
  opts: { limit?: number; before?: string } = {},
): Promise<ConversationMessage[]> {
  const { rows } = await db.query<{
    id: string;
    turn_id: string;
    kind: 'user' | 'final';
    content: string | null;
    finish_reason: string | null;
    model: string | null;
    created_at: Date;
  }>(
    `SELECT * FROM (
       SELECT id, turn_id, kind, content, finish_reason, model, created_at FROM messages
       WHERE conversation_id = $1 AND kind IN ('user', 'final') AND ($3::bigint IS NULL OR id < $3::bigint)
       ORDER BY id DESC LIMIT $2) recent
     ORDER BY id`,
    [conversationId, opts.limit ?? 100, opts.before ?? null],
  );
  return rows.map((r) => ({
    id: r.id,
    turnId: r.turn_id,
    role: r.kind === 'user' ? 'user' : 'assistant',
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
