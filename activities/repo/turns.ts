import type { Pool, PoolClient } from 'pg';
import type { ChatTurnInput, ChatTurnResult, Usage } from '../../common';
import { ConversationOwnershipError } from '../errors';

/** A stored turn as the activities need it. */
export interface TurnRow {
  id: string;
  conversationId: string;
  status: 'running' | 'completed' | 'cancelled' | 'failed';
  model: string;
  hops: number;
  finishReason: string | null;
  usage: Usage | null;
}

/**
 * Stores the conversation (if new), the turn and its user message, each at most once. Returns the turn as
 * stored, so a turn started again after it finished (e.g. once Temporal's retention dropped the old run)
 * is recognised instead of answered twice.
 *
 * @throws ConversationOwnershipError when the conversation belongs to another tenant.
 */
export async function ensureTurn(pool: Pool, input: ChatTurnInput & { model: string }): Promise<TurnRow> {
  return inTransaction(pool, async (db) => {
    await db.query(`INSERT INTO conversations (id, tenant_id) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, [
      input.conversationId,
      input.tenantId,
    ]);
    const owner = await db.query<{ tenant_id: string }>(`SELECT tenant_id FROM conversations WHERE id = $1`, [
      input.conversationId,
    ]);
    if (owner.rows[0]?.tenant_id !== input.tenantId) {
      throw new ConversationOwnershipError(input.conversationId);
    }
    await db.query(
      `INSERT INTO turns (id, conversation_id, request_id, model) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO NOTHING`,
      [input.turnId, input.conversationId, input.requestId, input.model],
    );
    await db.query(
      `INSERT INTO messages (conversation_id, turn_id, idem_key, kind, content)
       VALUES ($1, $2, $3, 'user', $4) ON CONFLICT (idem_key) DO NOTHING`,
      [input.conversationId, input.turnId, `${input.turnId}:user`, input.message],
    );
    const turn = await getTurn(db, input.turnId);
    if (!turn) throw new Error(`turn ${input.turnId} vanished inside its own transaction`);
    return turn;
  });
}

/** The stored turn, or `undefined`. */
export async function getTurn(db: Pool | PoolClient, turnId: string): Promise<TurnRow | undefined> {
  const { rows } = await db.query<{
    id: string;
    conversation_id: string;
    status: TurnRow['status'];
    model: string;
    hops: number;
    finish_reason: string | null;
    usage: Usage | null;
  }>(`SELECT id, conversation_id, status, model, hops, finish_reason, usage FROM turns WHERE id = $1`, [turnId]);
  const row = rows[0];
  if (!row) return undefined;
  return {
    id: row.id,
    conversationId: row.conversation_id,
    status: row.status,
    model: row.model,
    hops: row.hops,
    finishReason: row.finish_reason,
    usage: row.usage,
  };
}

/** The result of a turn that already finished, rebuilt from what is stored (the seed's cached response). */
export async function storedResult(db: Pool | PoolClient, turnId: string): Promise<ChatTurnResult | undefined> {
  const { rows } = await db.query<{
    conversation_id: string;
    status: string;
    model: string;
    hops: number;
    finish_reason: string | null;
    usage: Usage | null;
    message_id: string | null;
  }>(
    `SELECT t.conversation_id, t.status, t.model, t.hops, t.finish_reason, t.usage, m.id AS message_id
     FROM turns t LEFT JOIN messages m ON m.turn_id = t.id AND m.kind = 'final'
     WHERE t.id = $1`,
    [turnId],
  );
  const row = rows[0];
  if (!row?.message_id || (row.status !== 'completed' && row.status !== 'cancelled')) return undefined;
  return {
    turnId,
    conversationId: row.conversation_id,
    status: row.status,
    messageId: row.message_id,
    finishReason: row.finish_reason,
    hops: row.hops,
    model: row.model,
    usage: row.usage,
  };
}

/** Runs `fn` in a transaction on one pooled connection. */
export async function inTransaction<T>(pool: Pool, fn: (db: PoolClient) => Promise<T>): Promise<T> {
  const db = await pool.connect();
  try {
    await db.query('BEGIN');
    const result = await fn(db);
    await db.query('COMMIT');
    return result;
  } catch (err: unknown) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    db.release();
  }
}
