import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { ApprovalDecider, ToolCallIdentity } from '../../common';

/** The id of the approval of one tool call: derived from its identity, so a retried request finds its own row. */
export function approvalIdFor({ turnId, hop, toolCallId }: ToolCallIdentity): string {
  return `apr_${sha256(`${turnId}\n${hop}\n${toolCallId}`).slice(0, 32)}`;
}

/** The hash of a call's arguments that an approval covers (SHA-256 of the exact text, hex). */
export function argumentsHash(args: string): string {
  return sha256(args);
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** One stored approval. */
export interface ApprovalRow {
  approvalId: string;
  tenantId: string;
  conversationId: string;
  turnId: string;
  hop: number;
  toolCallId: string;
  toolName: string;
  arguments: string;
  argumentsHash: string;
  reason: string | null;
  expiresAt: Date;
  createdAt: Date;
  approved: boolean | null;
  decidedBy: ApprovalDecider | null;
  decisionReason: string | null;
  decidedAt: Date | null;
}

interface Row {
  id: string;
  tenant_id: string;
  conversation_id: string;
  turn_id: string;
  hop: number;
  tool_call_id: string;
  tool_name: string;
  arguments: string;
  arguments_hash: string;
  reason: string | null;
  expires_at: Date;
  created_at: Date;
  approved: boolean | null;
  decided_by: ApprovalDecider | null;
  decision_reason: string | null;
  decided_at: Date | null;
}

function fromRow(r: Row): ApprovalRow {
  return {
    approvalId: r.id,
    tenantId: r.tenant_id,
    conversationId: r.conversation_id,
    turnId: r.turn_id,
    hop: r.hop,
    toolCallId: r.tool_call_id,
    toolName: r.tool_name,
    arguments: r.arguments,
    argumentsHash: r.arguments_hash,
    reason: r.reason,
    expiresAt: r.expires_at,
    createdAt: r.created_at,
    approved: r.approved,
    decidedBy: r.decided_by,
    decisionReason: r.decision_reason,
    decidedAt: r.decided_at,
  };
}

/** What {@link storeApprovalRequest} stores. */
export interface ApprovalRequest extends ToolCallIdentity {
  toolName: string;
  arguments: string;
  reason: string | null;
  timeoutMs: number;
}

/**
 * Stores the approval request of one call once (a retry finds the first one, with its own expiry) and returns it.
 * The tenant and conversation come from the turn's row.
 */
export async function storeApprovalRequest(db: Pool | PoolClient, req: ApprovalRequest): Promise<ApprovalRow> {
  const id = approvalIdFor(req);
  await db.query(
    `INSERT INTO tool_approvals (id, tenant_id, conversation_id, turn_id, hop, tool_call_id, tool_name, arguments,
                                 arguments_hash, reason, expires_at)
     SELECT $1, tenant_id, conversation_id, id, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9::double precision / 1000)
     FROM turns WHERE id = $2
     ON CONFLICT (id) DO NOTHING`,
    [
      id,
      req.turnId,
      req.hop,
      req.toolCallId,
      req.toolName,
      req.arguments,
      argumentsHash(req.arguments),
      req.reason,
      req.timeoutMs,
    ],
  );
  const row = await getApproval(db, id);
  if (!row) throw new Error(`turn ${req.turnId} has no row: its approval cannot be stored`);
  return row;
}

/** The approval `approvalId`, whoever owns it (callers scope it by tenant themselves). */
export async function getApproval(db: Pool | PoolClient, approvalId: string): Promise<ApprovalRow | undefined> {
  const { rows } = await db.query<Row>(`SELECT * FROM tool_approvals WHERE id = $1`, [approvalId]);
  return rows[0] && fromRow(rows[0]);
}

/** The approval of one tool call, if the call needed one. */
export async function approvalOfCall(db: Pool | PoolClient, call: ToolCallIdentity): Promise<ApprovalRow | undefined> {
  return getApproval(db, approvalIdFor(call));
}

/**
 * Records the decision the turn took for an approval, once: a later call finds the decision already there and
 * changes nothing. A person's decision carries the reason they gave with it, if any.
 */
export async function recordDecision(
  db: Pool | PoolClient,
  decision: { approvalId: string; approved: boolean; decidedBy: ApprovalDecider },
): Promise<ApprovalRow | undefined> {
  await db.query(
    `UPDATE tool_approvals a
     SET approved = $2, decided_by = $3, decided_at = now(),
         decision_reason = CASE WHEN $3 = 'user'
           THEN (SELECT reason FROM tool_approval_reasons r WHERE r.approval_id = a.id AND r.approved = $2) END
     WHERE id = $1 AND decided_at IS NULL`,
    [decision.approvalId, decision.approved, decision.decidedBy],
  );
  return getApproval(db, decision.approvalId);
}

/** Keeps a person's reason for a decision before the decision reaches the turn (the first one given stays). */
export async function storeDecisionReason(
  db: Pool | PoolClient,
  approvalId: string,
  approved: boolean,
  reason: string,
): Promise<void> {
  await db.query(
    `INSERT INTO tool_approval_reasons (approval_id, approved, reason) VALUES ($1, $2, $3)
     ON CONFLICT (approval_id, approved) DO NOTHING`,
    [approvalId, approved, reason],
  );
}

/** A page of a tenant's pending approvals, newest first; `before` is the last row of the previous page. */
export async function pendingApprovals(
  db: Pool | PoolClient,
  tenantId: string,
  page: { limit: number; before?: { createdAt: Date; approvalId: string } | undefined },
): Promise<ApprovalRow[]> {
  const { rows } = await db.query<Row>(
    `SELECT * FROM tool_approvals
     WHERE tenant_id = $1 AND decided_at IS NULL
       AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::text))
     ORDER BY created_at DESC, id DESC LIMIT $2`,
    [tenantId, page.limit, page.before?.createdAt ?? null, page.before?.approvalId ?? null],
  );
  return rows.map(fromRow);
}
