import type pg from 'pg';
import { inTransaction } from './transaction';
import { ConversationDeletingError } from './errors';

/**
 * The one rule of who may see what: a tenant sees exactly the conversations and turns stored under its tenant id,
 * and nothing else exists for it. Another tenant's conversation or turn is answered exactly like a missing one
 * (same status, same message, same queries), so no caller can detect, read, attach to or cancel it.
 *
 * Ownership is settled when a turn is started ({@link claimTurn}, before the workflow exists), not later by the
 * workflow, so a turn exists for its owner from the moment its start answered.
 */

type Db = Pick<pg.Pool, 'query'>;

/** The identity of a turn being started. */
export interface TurnClaim {
  tenantId: string;
  conversationId: string;
  requestId: string;
  turnId: string;
  /**
   * The user's message, stored with the turn row in the same statement (it never enters Temporal: the turn's first
   * activity reads it from here). A request claimed before keeps the message it was first stored with.
   */
  message: string;
}

/** Thrown when a turn id is stored under another tenant than the one starting it (a bug: ids embed the tenant). */
export class TurnOwnershipError extends Error {
  override readonly name = 'TurnOwnershipError';

  constructor(readonly turnId: string) {
    super(`turn ${turnId} is stored under another tenant`);
  }
}

/**
 * Stores the conversation (if new) and the turn (if new, with its user message) under the tenant, in one statement,
 * before its workflow is started: from then on the turn is visible to its owner, and to nobody else. Returns the id the request's
 * turn is stored under (`claim.turnId`).
 * @throws TurnOwnershipError when the turn id is already stored under another tenant.
 * @throws ConversationDeletingError while the conversation is being deleted.
 */
export async function claimTurn(db: Db, claim: TurnClaim): Promise<string> {
  const { rows } = await db.query<ClaimRow>(claimSql(`'running'`), claimParams(claim));
  return settleClaim(rows, claim).turnId;
}

/** A row of {@link claimSql}: whether the conversation took the claim, and the request's turn (if any). */
interface ClaimRow {
  open: boolean;
  id: string | null;
  tenant_id: string | null;
  status: QueuedClaim['status'] | null;
  steered_into: string | null;
}

/**
 * One statement: the conversation is created, or its last activity moved to now, unless a deletion has begun
 * (`deleting_since`); only then is the turn stored, under `status`. `ON CONFLICT DO UPDATE` locks the conversation's
 * row, so a claim and the start of a deletion never interleave: a claim either lands before the deletion (which then
 * deletes it with the rest) or sees it and stores nothing. A deletion that already removed the row leaves no conflict:
 * the claim creates a new, empty conversation.
 */
function claimSql(status: string): string {
  return `WITH conversation AS (
       INSERT INTO conversations (tenant_id, id) VALUES ($1, $2)
       ON CONFLICT (tenant_id, id) DO UPDATE SET last_activity_at = date_trunc('milliseconds', now())
         WHERE conversations.deleting_since IS NULL
       RETURNING 1),
     turn AS (
       INSERT INTO turns (id, tenant_id, conversation_id, request_id, status, message)
       SELECT $4, $1, $2, $3, ${status}, $5 WHERE EXISTS (SELECT 1 FROM conversation)
       ON CONFLICT DO NOTHING RETURNING id, tenant_id, status, steered_into)
     SELECT c.open, r.id, r.tenant_id, r.status, r.steered_into
     FROM (SELECT count(*) > 0 AS open FROM conversation) c
     LEFT JOIN (
       SELECT id, tenant_id, status, steered_into FROM turn
       UNION ALL
       SELECT id, tenant_id, status, steered_into FROM turns
       WHERE id = $4 OR (tenant_id = $1 AND conversation_id = $2 AND request_id = $3)) r ON true`;
}

function claimParams(claim: TurnClaim): unknown[] {
  return [claim.tenantId, claim.conversationId, claim.requestId, claim.turnId, claim.message];
}

function settleClaim(rows: ClaimRow[], claim: TurnClaim): QueuedClaim {
  if (rows[0]?.open !== true) throw new ConversationDeletingError(claim.conversationId);
  if (rows.some((r) => r.tenant_id !== null && r.tenant_id !== claim.tenantId)) {
    throw new TurnOwnershipError(claim.turnId);
  }
  const row = rows.find((r) => r.id !== null);
  return { turnId: row?.id ?? claim.turnId, status: row?.status ?? 'queued', steeredInto: row?.steered_into ?? null };
}

/** A turn claimed for the ordered start: where the request stands. */
export interface QueuedClaim {
  /** The id the request's turn is stored under (see {@link claimTurn}). */
  turnId: string;
  /** `queued` for a new request (or one still waiting); anything else: the request was accepted before. */
  status: 'queued' | 'running' | 'completed' | 'cancelled' | 'failed' | 'steered';
  /** For `steered`: the running turn its message joined. */
  steeredInto: string | null;
}

/**
 * Like {@link claimTurn}, for a turn that may have to wait behind its conversation's running turn: a new turn is
 * stored as `queued` (owned by the tenant from now on, not counted as running) until its workflow starts.
 * @throws TurnOwnershipError when the turn id is already stored under another tenant.
 * @throws ConversationDeletingError while the conversation is being deleted.
 */
export async function claimQueuedTurn(db: Db, claim: TurnClaim): Promise<QueuedClaim> {
  const { rows } = await db.query<ClaimRow>(claimSql(`'queued'`), claimParams(claim));
  return settleClaim(rows, claim);
}

/** A turn claimed for the ordered start, and whether it starts directly. */
export interface OrderedClaim extends QueuedClaim {
  /**
   * The turn starts directly (a plain workflow start, not through its conversation's workflow): the claim found the
   * conversation with no turn queued or running and stored `directInput` with it. Also true for a retry of such a
   * request, which starts it again (idempotently) in case the first start never reached Temporal.
   */
  direct: boolean;
  /** The conversation's direct turn still queued or running, which a turn going through the conversation follows. */
  adopt: string | null;
}

/**
 * Like {@link claimQueuedTurn}, and decides in the same call (the database function `claim_ordered_turn`, under the
 * conversation row's lock) whether the turn starts directly: only with `directInput` given, for a new request, in a
 * conversation with no turn queued or running. Two racing claims of an idle conversation never both go direct.
 * @throws TurnOwnershipError when the turn id is already stored under another tenant.
 * @throws ConversationDeletingError while the conversation is being deleted.
 */
export async function claimOrderedTurn(
  db: Db,
  claim: TurnClaim,
  directInput: Record<string, unknown> | null,
): Promise<OrderedClaim> {
  const { rows } = await db.query<{
    o_open: boolean;
    o_id: string | null;
    o_tenant_id: string | null;
    o_status: QueuedClaim['status'] | null;
    o_steered_into: string | null;
    o_direct: boolean;
    o_adopt: string | null;
  }>(`SELECT * FROM claim_ordered_turn($1, $2, $3, $4, $5, $6::jsonb)`, [
    ...claimParams(claim),
    directInput && JSON.stringify(directInput),
  ]);
  const settled = settleClaim(
    rows.map((r) => ({
      open: r.o_open,
      id: r.o_id,
      tenant_id: r.o_tenant_id,
      status: r.o_status,
      steered_into: r.o_steered_into,
    })),
    claim,
  );
  const own = rows.find((r) => r.o_id === settled.turnId);
  return { ...settled, direct: own?.o_direct === true, adopt: rows[0]?.o_adopt ?? null };
}

/** A turn as {@link startWhileUndeleted} found it, under the hold. */
export interface HeldTurn {
  status: QueuedClaim['status'];
  /** The start input its claim stored when it went direct (`turns.direct_input`); `null` for a conversation's turn. */
  directInput: unknown;
}

/**
 * Runs `start` (a start of the turn's workflow) while the turn is stored and no deletion of its conversation has
 * begun, holding both so until `start` settles; `undefined`, without calling `start`, when either is not so.
 *
 * Why: a deletion (client/conversations.ts) first marks the conversation, then deletes every workflow of it that
 * Temporal has, then its rows. A workflow started after the deletion looked for it would outlive the deletion (and
 * keep its turn id from the conversation started anew under the same id). So every start of a turn's workflow from
 * Node runs in here (a direct start, `startTurn`, and the conversation's own start of a direct turn whose caller was
 * lost): it lands before the mark, and the deletion finds its workflow, or not at all.
 *
 * The conversation's row is held `FOR KEY SHARE`, which only a `FOR UPDATE` lock waits for: the deletion's mark takes
 * one, while the conversation's claims and turn inserts (which take none) go on.
 */
export async function startWhileUndeleted<T>(
  pool: pg.Pool,
  turnId: string,
  start: (turn: HeldTurn) => Promise<T>,
): Promise<{ value: T } | undefined> {
  return inTransaction(pool, async (db) => {
    const { rows } = await db.query<{ status: HeldTurn['status']; direct_input: unknown }>(
      `SELECT t.status, t.direct_input FROM turns t
       JOIN conversations c ON c.tenant_id = t.tenant_id AND c.id = t.conversation_id
       WHERE t.id = $1 AND c.deleting_since IS NULL
       FOR KEY SHARE OF c`,
      [turnId],
    );
    const row = rows[0];
    return row ? { value: await start({ status: row.status, directInput: row.direct_input }) } : undefined;
  });
}

/**
 * Forgets a claimed turn its conversation refused (policy `reject`): it never ran and stored nothing, so the
 * request may be sent again later. Only a turn still `queued` and without messages is removed.
 */
export async function releaseQueuedClaim(db: Db, turnId: string): Promise<void> {
  await db.query(
    `DELETE FROM turns t WHERE t.id = $1 AND t.status = 'queued'
       AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.turn_id = t.id)
       AND NOT EXISTS (SELECT 1 FROM turn_events e WHERE e.turn_id = t.id)`,
    [turnId],
  );
}

/**
 * Whether `tenant` may see the turn `turnId` (false for a missing turn and for another tenant's alike, and for a turn
 * of a conversation being deleted).
 */
export async function tenantSeesTurn(db: Db, tenant: string, turnId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `SELECT 1 FROM turns t JOIN conversations c ON c.tenant_id = t.tenant_id AND c.id = t.conversation_id
     WHERE t.id = $1 AND t.tenant_id = $2 AND c.deleting_since IS NULL`,
    [turnId, tenant],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Whether `tenant` has a conversation `conversationId` (false for a missing one and for another tenant's alike, and
 * for one being deleted).
 */
export async function tenantSeesConversation(db: Db, tenant: string, conversationId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `SELECT 1 FROM conversations WHERE tenant_id = $1 AND id = $2 AND deleting_since IS NULL`,
    [tenant, conversationId],
  );
  return (rowCount ?? 0) > 0;
}
