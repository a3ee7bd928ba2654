import type pg from 'pg';
import {
  ApprovalConflictError,
  ApprovalExpiredError,
  STORED_EVENTS_PAGE,
  type ApprovalOutcome,
  type TurnClient,
} from '../../client';
import type { ApprovalDecider, TurnEvent } from '../../common';
import { ApiError } from '../errors';
import type { ChatApprovalResponse } from './body';
import { ReaderView } from './reader-view';
import type { ApprovalLookups } from './stream';
import { answerMessageId, type StoredToolResult } from './ui-chunks';

type Db = Pick<pg.Pool, 'query'>;

/** What deciding from a chat needs. */
export interface ChatApprovalDeps {
  pool: pg.Pool;
  turns: TurnClient;
}

/** The turn a chat POST decided for, and where its answer's stream continues. */
export interface ChatContinuation {
  turnId: string;
  from: { after: number; hop: number; view: ReaderView };
}

interface ApprovalOfChat {
  id: string;
  turn_id: string;
  tool_call_id: string;
  request_id: string;
  approved: boolean | null;
  decided_by: ApprovalDecider | null;
  decision_reason: string | null;
}

/**
 * Delivers the decisions a `useChat` POST carries (`approval-responded` parts of the answer `messageId`) to the turn
 * waiting for them, and says where that answer continues. Every part must name an approval of this tenant's chat,
 * of the turn that answer belongs to, for the call the part is: otherwise the POST is refused (404, like an unknown
 * approval) and nothing is decided. A part contradicting a decision that stands is refused (409) before anything is
 * decided, even after the turn ended; the same decision again is accepted.
 * @throws ApiError (400, 404), ApprovalConflictError, ApprovalExpiredError, ApprovalNotFoundError
 */
export async function decideFromChat(
  deps: ChatApprovalDeps,
  tenant: string,
  conversationId: string,
  messageId: string,
  responses: ChatApprovalResponse[],
): Promise<ChatContinuation> {
  const byId = new Map<string, ChatApprovalResponse>();
  for (const r of responses) {
    const seen = byId.get(r.approvalId);
    if (seen && seen.approved !== r.approved) {
      throw new ApiError(400, 'bad_request', `approval ${r.approvalId} is both approved and denied`);
    }
    byId.set(r.approvalId, r);
  }
  const rows = await approvalsOfChat(deps.pool, tenant, conversationId, [...byId.keys()]);
  const turnIds = new Set(rows.map((row) => row.turn_id));
  for (const r of byId.values()) {
    const row = rows.find((x) => x.id === r.approvalId);
    if (!row || row.tool_call_id !== r.toolCallId || answerMessageId(row.request_id) !== messageId) {
      throw new ApiError(404, 'not_found', `approval ${r.approvalId} not found in this chat`);
    }
  }
  if (turnIds.size !== 1) throw new ApiError(400, 'bad_request', 'the approvals belong to more than one turn');
  const turnId = [...turnIds][0]!;
  // Refused before any decision is delivered: a POST either decides everything it carries or nothing new.
  for (const row of rows) {
    if (row.decided_by === null) continue;
    const outcome: ApprovalOutcome = {
      approvalId: row.id,
      turnId,
      approved: row.approved!,
      decidedBy: row.decided_by,
      reason: row.decision_reason,
    };
    if (row.decided_by === 'timeout') throw new ApprovalExpiredError(row.id);
    if (row.decided_by !== 'user' || row.approved !== byId.get(row.id)!.approved) {
      throw new ApprovalConflictError(outcome);
    }
  }
  for (const r of byId.values()) {
    await deps.turns.decideApproval(turnId, r.approvalId, {
      tenantId: tenant,
      approved: r.approved,
      ...(r.reason === undefined ? {} : { reason: r.reason }),
    });
  }
  return { turnId, from: await continuationPoint(deps.turns, turnId, new Set(byId.keys())) };
}

async function approvalsOfChat(
  db: Db,
  tenant: string,
  conversationId: string,
  approvalIds: string[],
): Promise<ApprovalOfChat[]> {
  const { rows } = await db.query<ApprovalOfChat>(
    `SELECT a.id, a.turn_id, a.tool_call_id, t.request_id, a.approved, a.decided_by, a.decision_reason
     FROM tool_approvals a JOIN turns t ON t.id = a.turn_id AND t.tenant_id = a.tenant_id
     WHERE a.tenant_id = $1 AND a.conversation_id = $2 AND a.id = ANY($3::text[])`,
    [tenant, conversationId, approvalIds],
  );
  return rows;
}

/**
 * Where the reader's copy of the answer ends: right after the last request of `decided` (the reader was shown
 * everything up to there), with what the reader holds of that round.
 */
async function continuationPoint(turns: TurnClient, turnId: string, decided: Set<string>) {
  const events: TurnEvent[] = [];
  for (let after = 0, full = true; full;) {
    const page = await turns.storedEvents(turnId, after);
    full = page.length === STORED_EVENTS_PAGE;
    events.push(...page);
    after = page.at(-1)?.cursor ?? after;
  }
  const last = events.findLast((e) => e.type === 'approval_requested' && decided.has(e.approvalId));
  if (!last) throw new Error(`turn ${turnId} has stored no request for its approvals`);
  const view = new ReaderView();
  for (const event of events) if (event.cursor <= last.cursor) view.observe(event);
  return { after: last.cursor, hop: last.hop, view };
}

/** What a chat stream of `turnId` asks Postgres to end at calls waiting for a person. */
export function approvalLookups(db: Db, tenant: string, turnId: string): ApprovalLookups {
  return {
    pending: () => pendingApprovalIds(db, tenant, turnId),
    results: (hop, toolCallIds) => storedResultsOf(db, tenant, turnId, hop, toolCallIds),
  };
}

/** The stored results of `toolCallIds` of round `hop` of `turnId`. */
export async function storedResultsOf(
  db: Db,
  tenant: string,
  turnId: string,
  hop: number,
  toolCallIds: string[],
): Promise<StoredToolResult[]> {
  const { rows } = await db.query<{ tool_call_id: string; content: string; is_error: boolean }>(
    `SELECT tool_call_id, content, is_error FROM messages
     WHERE tenant_id = $1 AND turn_id = $2 AND kind = 'tool' AND hop = $3 AND tool_call_id = ANY($4::text[])`,
    [tenant, turnId, hop, toolCallIds],
  );
  return rows.map((r) => ({ toolCallId: r.tool_call_id, content: r.content, isError: r.is_error }));
}

/** The ids of `turnId`'s approvals that wait for a decision. */
export async function pendingApprovalIds(db: Db, tenant: string, turnId: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM tool_approvals WHERE tenant_id = $1 AND turn_id = $2 AND decided_at IS NULL`,
    [tenant, turnId],
  );
  return rows.map((r) => r.id);
}
