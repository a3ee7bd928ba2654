import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import { z } from 'zod';
import { hasLoneSurrogate, type ApprovalDecider } from '../common';
import { APPROVAL_FAILURE, decideApproval as decideApprovalUpdate } from '../workflows';
import { CallDeadlineError, withinDeadline } from './deadline';
import { DEFAULT_START_TIMEOUT_MS } from './ordered-start';

/** Longest reason a person may give for a decision. */
export const MAX_DECISION_REASON_CHARS = 1_000;

/** What a person decides. */
export const ApprovalDecisionRequest = z.strictObject({
  approved: z.boolean(),
  reason: z
    .string()
    .max(MAX_DECISION_REASON_CHARS, `must be at most ${MAX_DECISION_REASON_CHARS} characters`)
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL (U+0000) characters')
    .refine((s) => !hasLoneSurrogate(s), 'must be well-formed Unicode (no lone surrogates)')
    .optional(),
});
export type ApprovalDecisionRequest = z.infer<typeof ApprovalDecisionRequest>;

/** The decision that stands for an approval. */
export interface ApprovalOutcome {
  approvalId: string;
  turnId: string;
  approved: boolean;
  decidedBy: ApprovalDecider;
  /** The person's reason, when the decision was theirs and they gave one. */
  reason: string | null;
}

/** A call waiting for a person, as `GET /v1/approvals` and {@link listPendingApprovals} show it. */
export interface PendingApprovalView {
  approvalId: string;
  turnId: string;
  conversationId: string;
  toolCallId: string;
  toolName: string;
  /** Exactly what runs if it is approved. */
  arguments: string;
  reason: string | null;
  createdAt: string;
  expiresAt: string;
}

/** Thrown when the approval does not exist for this tenant and turn (another tenant's looks exactly the same). */
export class ApprovalNotFoundError extends Error {
  override readonly name = 'ApprovalNotFoundError';
  constructor(
    readonly approvalId: string,
    options: { cause?: unknown } = {},
  ) {
    super('no such approval', options);
  }
}

/** Thrown when another decision stands for the approval; `decision` is that one. */
export class ApprovalConflictError extends Error {
  override readonly name = 'ApprovalConflictError';
  constructor(
    readonly decision: ApprovalOutcome,
    options: { cause?: unknown } = {},
  ) {
    super(
      `the approval was already decided: ${decision.approved ? 'approved' : 'denied'} (${decision.decidedBy})`,
      options,
    );
  }
}

/** Thrown when the approval's deadline passed before a person decided (the call was denied: `timeout`). */
export class ApprovalExpiredError extends Error {
  override readonly name = 'ApprovalExpiredError';
  readonly errorType = APPROVAL_FAILURE.expired;
  constructor(
    readonly approvalId: string,
    options: { cause?: unknown } = {},
  ) {
    super('the approval expired', options);
  }
}

/**
 * Thrown when the turn did not take the decision within the deadline: no worker runs it now (none polls its task
 * queue). The decision may still reach the turn once a worker polls; sending the same decision again is safe (it is
 * one decision).
 */
export class ApprovalUnavailableError extends Error {
  override readonly name = 'ApprovalUnavailableError';
  constructor(
    readonly approvalId: string,
    /** How long the decision waited, in milliseconds. */
    readonly timeoutMs: number,
    options: { cause?: unknown } = {},
  ) {
    super(
      `the turn did not take the decision on ${approvalId} within ${timeoutMs} ms: no worker runs it now; ` +
        'send the same decision again later',
      options,
    );
  }
}

interface Row {
  id: string;
  turn_id: string;
  conversation_id: string;
  tool_call_id: string;
  tool_name: string;
  arguments: string;
  reason: string | null;
  created_at: Date;
  expires_at: Date;
  approved: boolean | null;
  decided_by: ApprovalDecider | null;
  decision_reason: string | null;
  expired: boolean;
}

async function readApproval(
  pool: Pool,
  tenantId: string | undefined,
  turnId: string,
  approvalId: string,
): Promise<Row | undefined> {
  const { rows } = await pool.query<Row>(
    `SELECT *, expires_at <= now() AS expired FROM tool_approvals
     WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2) AND turn_id = $3`,
    [approvalId, tenantId ?? null, turnId],
  );
  return rows[0];
}

function outcomeOf(row: Row): ApprovalOutcome {
  return {
    approvalId: row.id,
    turnId: row.turn_id,
    approved: row.approved!,
    decidedBy: row.decided_by!,
    reason: row.decision_reason,
  };
}

/** The answer for a decision asked of an approval already decided: the same decision, or why not. */
function standing(row: Row, approved: boolean): ApprovalOutcome {
  const outcome = outcomeOf(row);
  if (outcome.decidedBy === 'timeout') throw new ApprovalExpiredError(row.id);
  if (outcome.decidedBy !== 'user' || outcome.approved !== approved) throw new ApprovalConflictError(outcome);
  return outcome;
}

/**
 * How long a decision for a stored, pending approval is offered again while the turn does not know it yet: a worker
 * that died right after storing it has to be replaced, and the turn's state rebuilt, first.
 */
const NOT_YET_KNOWN_MS = 30_000;

/**
 * Delivers a person's decision to the turn waiting for it. The reason is stored in Postgres first; the Temporal
 * Update carries ids and the decision only, and the turn's validator refuses it (nothing recorded) when it is
 * unknown, decided otherwise or expired. The same decision again answers the one that stands; a turn that has ended
 * answers from Postgres.
 * @throws ApprovalNotFoundError, ApprovalConflictError, ApprovalExpiredError
 */
export async function decideApproval(
  /** `callTimeoutMs`: how long the decision waits for the turn to take it. @default DEFAULT_START_TIMEOUT_MS */
  deps: { temporal: Client; pool: Pool; callTimeoutMs?: number },
  /** `tenantId` scopes the approval to a tenant (the gateway's callers); a trusted service may leave it out. */
  target: { tenantId?: string | undefined; turnId: string; approvalId: string },
  request: ApprovalDecisionRequest,
): Promise<ApprovalOutcome> {
  const { approved, reason } = ApprovalDecisionRequest.parse(request);
  const { tenantId, turnId, approvalId } = target;
  const row = await readApproval(deps.pool, tenantId, turnId, approvalId);
  if (!row) throw new ApprovalNotFoundError(approvalId);
  if (row.decided_by !== null) return standing(row, approved);
  if (row.expired) throw new ApprovalExpiredError(approvalId);
  if (reason !== undefined && reason.trim() !== '') {
    await deps.pool.query(
      `INSERT INTO tool_approval_reasons (approval_id, approved, reason) VALUES ($1, $2, $3)
       ON CONFLICT (approval_id, approved) DO NOTHING`,
      [approvalId, approved, reason],
    );
  }
  const handle = deps.temporal.workflow.getHandle(turnId);
  const timeoutMs = deps.callTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const deadline = Date.now() + NOT_YET_KNOWN_MS;
  for (;;) {
    try {
      const decided = await withinDeadline(deps.temporal, timeoutMs, () =>
        handle.executeUpdate(decideApprovalUpdate, {
          args: [{ approvalId, approved }],
          // The same decision twice is one update; the other decision is another, which the validator refuses.
          updateId: `${approvalId}:${approved ? 'approve' : 'deny'}`,
        }),
      ).catch((err: unknown) => {
        throw err instanceof CallDeadlineError
          ? new ApprovalUnavailableError(approvalId, timeoutMs, { cause: err })
          : err;
      });
      const stored = await readApproval(deps.pool, tenantId, turnId, approvalId);
      return stored && stored.decided_by !== null ? standing(stored, approved) : { ...decided, turnId, reason: null };
    } catch (err: unknown) {
      const type =
        err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure
          ? err.cause.type
          : undefined;
      if (type === APPROVAL_FAILURE.expired) throw new ApprovalExpiredError(approvalId, { cause: err });
      const ended = err instanceof WorkflowNotFoundError || isWorkflowCompleted(err);
      if (type !== APPROVAL_FAILURE.conflict && type !== APPROVAL_FAILURE.notFound && !ended) throw err;
      // Postgres has the decision that stands once the turn recorded it.
      const stored = await readApproval(deps.pool, tenantId, turnId, approvalId);
      if (stored && stored.decided_by !== null) return standing(stored, approved);
      // Stored a moment ago, the request may not have reached the turn's state yet: ask again, briefly.
      if (type === APPROVAL_FAILURE.notFound && !ended && Date.now() < deadline) {
        await sleep(250);
        continue;
      }
      throw new ApprovalNotFoundError(approvalId, { cause: err });
    }
  }
}

function isWorkflowCompleted(err: unknown): boolean {
  return err instanceof Error && /workflow execution already completed/i.test(err.message);
}

/** A page of a tenant's calls waiting for a person, newest first; pass the last one's `cursor` for the next page. */
export async function listPendingApprovals(
  pool: Pool,
  tenantId: string,
  page: { limit?: number; after?: string } = {},
): Promise<{ approvals: PendingApprovalView[]; next: string | null }> {
  const limit = Math.min(Math.max(page.limit ?? 50, 1), 200);
  const before = page.after === undefined ? null : decodePageCursor(page.after);
  const { rows } = await pool.query<Row>(
    `SELECT *, expires_at <= now() AS expired FROM tool_approvals
     WHERE tenant_id = $1 AND decided_at IS NULL
       AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::text))
     ORDER BY created_at DESC, id DESC LIMIT $2`,
    [tenantId, limit + 1, before?.createdAt ?? null, before?.approvalId ?? null],
  );
  const approvals = rows.slice(0, limit).map((r) => ({
    approvalId: r.id,
    turnId: r.turn_id,
    conversationId: r.conversation_id,
    toolCallId: r.tool_call_id,
    toolName: r.tool_name,
    arguments: r.arguments,
    reason: r.reason,
    createdAt: r.created_at.toISOString(),
    expiresAt: r.expires_at.toISOString(),
  }));
  const last = rows.length > limit ? rows[limit - 1] : undefined;
  return { approvals, next: last ? encodePageCursor(last.created_at, last.id) : null };
}

function encodePageCursor(createdAt: Date, approvalId: string): string {
  return Buffer.from(JSON.stringify([createdAt.toISOString(), approvalId])).toString('base64url');
}

/** Thrown by {@link listPendingApprovals} for a page cursor it did not issue. */
export class InvalidPageCursorError extends Error {
  override readonly name = 'InvalidPageCursorError';
}

const PageCursor = z.tuple([z.iso.datetime(), z.string().max(64)]);

function decodePageCursor(cursor: string): { createdAt: Date; approvalId: string } {
  try {
    const [createdAt, approvalId] = PageCursor.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return { createdAt: new Date(createdAt), approvalId };
  } catch (err: unknown) {
    throw new InvalidPageCursorError('invalid page cursor', { cause: err });
  }
}
