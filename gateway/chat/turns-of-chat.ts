import type pg from 'pg';

type Db = Pick<pg.Pool, 'query'>;

/** A turn of a chat as the chat endpoints need it. */
export interface ChatTurnRow {
  turnId: string;
  requestId: string;
  /** `queued` while it waits for its conversation's running turn; `steered` when it joined that turn. */
  status: 'queued' | 'steered' | 'running' | 'completed' | 'cancelled' | 'failed';
  /** The user's message, once the worker stored it. */
  userText: string | null;
}

/**
 * The newest running turn of `tenant`'s conversation, or `undefined` (also for another tenant's conversation,
 * which is answered exactly like a missing one: client/access.ts).
 */
export async function runningTurnOf(db: Db, tenant: string, conversationId: string): Promise<ChatTurnRow | undefined> {
  const { rows } = await db.query<ChatTurnRow>(
    `SELECT t.id AS "turnId", t.request_id AS "requestId", t.status, NULL AS "userText" FROM turns t
     WHERE t.tenant_id = $1 AND t.conversation_id = $2 AND t.status = 'running'
     ORDER BY t.created_at DESC, t.id DESC LIMIT 1`,
    [tenant, conversationId],
  );
  return rows[0];
}

/** The newest `limit` turns of `tenant`'s conversation with their user messages, oldest first. */
export async function recentTurnsOf(
  db: Db,
  tenant: string,
  conversationId: string,
  limit: number,
): Promise<ChatTurnRow[]> {
  const { rows } = await db.query<ChatTurnRow>(
    `SELECT * FROM (
       SELECT t.id AS "turnId", t.request_id AS "requestId", t.status, u.content AS "userText", t.created_at
       FROM turns t
       LEFT JOIN messages u ON u.turn_id = t.id AND u.tenant_id = t.tenant_id AND u.kind = 'user'
       WHERE t.tenant_id = $1 AND t.conversation_id = $2
       ORDER BY t.created_at DESC, t.id DESC LIMIT $3) recent
     ORDER BY created_at, "turnId"`,
    [tenant, conversationId, limit],
  );
  return rows.map(({ turnId, requestId, status, userText }) => ({ turnId, requestId, status, userText }));
}
