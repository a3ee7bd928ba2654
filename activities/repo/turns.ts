import { ApplicationFailure } from '@temporalio/common';
import type { Pool, PoolClient } from 'pg';
import { inTransaction } from '../../client/transaction';
import { messageKeys, type ChatTurnInput, type ChatTurnResult, type Usage } from '../../common';
import { EVENTS_CHANNEL, startedAnnouncement } from '../../stream-log';

/** A stored turn as the activities need it. */
export interface TurnRow {
  id: string;
  conversationId: string;
  status: 'queued' | 'running' | 'completed' | 'cancelled' | 'failed' | 'steered';
  model: string | null;
  hops: number;
  finishReason: string | null;
  usage: Usage | null;
  /** Set by {@link ensureTurn} when its transaction moved the turn from `queued` to `running`. */
  leftQueue?: { tenantId: string; queueWaitSeconds: number };
}

/**
 * Stores the conversation and the turn (if the start did not already, as `startTurn` does), the turn's model, and
 * its user message, each at most once, all under the turn's tenant. Returns the turn as stored, so a turn started
 * again after it finished (e.g. once Temporal's retention dropped the old run) is recognised instead of answered
 * twice.
 */
export async function ensureTurn(pool: Pool, input: ChatTurnInput & { model: string }): Promise<TurnRow> {
  return (await startClaimedTurn(pool, input)) ?? ensureTurnInFull(pool, input);
}

/**
 * {@link ensureTurn} for the usual turn, one its caller claimed (row and message stored), in one statement: one round
 * trip before the turn's first model request instead of a transaction of nine. The row is locked and read once; the
 * message moves into the conversation and the turn runs, writing only what changes (a retried attempt writes
 * nothing; the statements under WITH run whether or not the last one reads them). Undefined when the row is missing or holds no message anywhere: the full transaction stores or refuses it.
 */
async function startClaimedTurn(pool: Pool, input: ChatTurnInput & { model: string }): Promise<TurnRow | undefined> {
  const { rows } = await pool.query<TurnColumns & { left_queue: boolean; tenant_id: string; waited: number }>(
    `WITH old AS (
       SELECT id, tenant_id, conversation_id, status, model, hops, finish_reason, usage, message, created_at,
              direct_input IS NOT NULL AS direct,
              message IS NOT NULL OR EXISTS (SELECT 1 FROM messages WHERE idem_key = $3) AS has_message
       FROM turns WHERE id = $1 AND tenant_id = $6 FOR UPDATE),
     changed AS (
       UPDATE turns t
       SET status = CASE WHEN old.status = 'queued' THEN 'running' ELSE t.status END,
           message = NULL,
           model = COALESCE(t.model, $2)
       FROM old
       WHERE t.id = old.id AND old.has_message
         AND (old.status = 'queued' OR old.message IS NOT NULL OR t.model IS NULL)),
     moved AS (
       INSERT INTO messages (tenant_id, conversation_id, turn_id, idem_key, kind, content)
       SELECT tenant_id, conversation_id, id, $3, 'user', message FROM old WHERE message IS NOT NULL
       ON CONFLICT (idem_key) DO NOTHING)
     SELECT old.id, old.conversation_id,
            CASE WHEN old.status = 'queued' THEN 'running' ELSE old.status END AS status,
            COALESCE(old.model, $2) AS model, old.hops, old.finish_reason, old.usage,
            old.status = 'queued' AS left_queue, old.tenant_id,
            extract(epoch FROM now() - old.created_at)::float8 AS waited,
            CASE WHEN old.status = 'queued' AND old.direct THEN pg_notify($4, $5) END AS rang
     FROM old WHERE old.has_message`,
    [
      input.turnId,
      input.model,
      messageKeys.user(input.turnId),
      EVENTS_CHANNEL,
      startedAnnouncement(input.turnId),
      input.tenantId,
    ],
  );
  const row = rows[0];
  if (!row) return undefined;
  const turn = turnRowOf(row);
  return row.left_queue ? { ...turn, leftQueue: { tenantId: row.tenant_id, queueWaitSeconds: row.waited } } : turn;
}

/** {@link ensureTurn} in full: stores the conversation and the turn when its start did not. */
async function ensureTurnInFull(pool: Pool, input: ChatTurnInput & { model: string }): Promise<TurnRow> {
  return inTransaction(pool, async (db) => {
    await db.query(`INSERT INTO conversations (tenant_id, id) VALUES ($1, $2) ON CONFLICT (tenant_id, id) DO NOTHING`, [
      input.tenantId,
      input.conversationId,
    ]);
    await db.query(
      `INSERT INTO turns (id, tenant_id, conversation_id, request_id, model) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET model = EXCLUDED.model WHERE turns.model IS NULL`,
      [input.turnId, input.tenantId, input.conversationId, input.requestId, input.model],
    );
    // A turn that waited in its conversation's queue runs from now on. A turn started directly has its start waiting
    // for this (client/direct-start.ts): the same statement rings it, heard once this transaction commits (a
    // notification sent in a transaction is delivered at its commit, never if it rolls back).
    const started = await db.query<{ tenant_id: string; waited: number }>(
      `WITH started AS (
         UPDATE turns SET status = 'running' WHERE id = $1 AND status = 'queued'
         RETURNING tenant_id, created_at, direct_input IS NOT NULL AS direct)
       SELECT tenant_id, extract(epoch FROM now() - created_at)::float8 AS waited,
              CASE WHEN direct THEN pg_notify($2, $3) END AS rang
       FROM started`,
      [input.turnId, EVENTS_CHANNEL, startedAnnouncement(input.turnId)],
    );
    // The message was stored with the turn row at claim time: it moves into the conversation once, and the claim's
    // copy is cleared.
    await db.query(
      `INSERT INTO messages (tenant_id, conversation_id, turn_id, idem_key, kind, content)
       SELECT tenant_id, conversation_id, id, $2, 'user', message FROM turns
       WHERE id = $1 AND message IS NOT NULL
       ON CONFLICT (idem_key) DO NOTHING`,
      [input.turnId, messageKeys.user(input.turnId)],
    );
    await db.query(`UPDATE turns SET message = NULL WHERE id = $1 AND message IS NOT NULL`, [input.turnId]);
    const { rowCount } = await db.query(`SELECT 1 FROM messages WHERE idem_key = $1`, [messageKeys.user(input.turnId)]);
    if (!rowCount) {
      // Started without the claim that stores the message (not through startTurn / TurnClient): nothing to answer.
      throw ApplicationFailure.nonRetryable(`turn ${input.turnId} has no stored user message`, 'turn.invalid_input');
    }
    const turn = await getTurn(db, input.turnId);
    if (!turn) throw new Error(`turn ${input.turnId} vanished inside its own transaction`);
    const left = started.rows[0];
    return left ? { ...turn, leftQueue: { tenantId: left.tenant_id, queueWaitSeconds: left.waited } } : turn;
  });
}

/** The stored turn, or `undefined`. */
export async function getTurn(db: Pool | PoolClient, turnId: string): Promise<TurnRow | undefined> {
  const { rows } = await db.query<TurnColumns>(
    `SELECT id, conversation_id, status, model, hops, finish_reason, usage FROM turns WHERE id = $1`,
    [turnId],
  );
  const row = rows[0];
  return row && turnRowOf(row);
}

/** The `turns` columns a {@link TurnRow} is read from. */
interface TurnColumns {
  id: string;
  conversation_id: string;
  status: TurnRow['status'];
  model: string | null;
  hops: number;
  finish_reason: string | null;
  usage: Usage | null;
}

function turnRowOf(row: TurnColumns): TurnRow {
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
    model: row.model ?? '',
    usage: row.usage,
  };
}
