import { Context } from '@temporalio/activity';
import { eventKeys, storableText, type ApprovalDecider, type PersistenceOptions } from '../common';
import type { ActivityDeps } from './deps';
import { recordDecision, storeApprovalRequest, type ApprovalRow } from './repo/approvals';
import { hopToolCalls, saveToolResult } from './repo/messages';
import { storageStep } from './repo/storage-failure';
import { StreamWriter } from './stream/writer';
import { approvalNeed } from './tools';

/** How long a call waits for a person when the worker sets nothing (`TURNFLOW_APPROVAL_TIMEOUT`): 24 hours. */
export const DEFAULT_APPROVAL_TIMEOUT_MS = 86_400_000;

/** Input of `requestApprovals`: the calls of one hop, and what the turn asked on top of the worker. */
export interface RequestApprovalsInput {
  turnId: string;
  hop: number;
  /** The tools the turn offers; a call to any other tool runs nothing, so it needs no approval. */
  offered: string[];
  /** The turn's own `approvalTools`. */
  approvalTools: string[];
  persistence: PersistenceOptions;
}

/** One call that waits for a person: ids, the arguments' hash and the deadline only (the text stays in Postgres). */
export interface PendingApproval {
  approvalId: string;
  toolCallId: string;
  toolName: string;
  argumentsHash: string;
  /** Epoch milliseconds past which the call is denied (`timeout`). */
  expiresAtMs: number;
}

/** Input of `recordApprovalDecision`. */
export interface RecordApprovalDecisionInput {
  turnId: string;
  hop: number;
  approvalId: string;
  approved: boolean;
  decidedBy: ApprovalDecider;
  persistence: PersistenceOptions;
}

/** The decision that stands for an approval (the first one recorded). */
export interface RecordedApprovalDecision {
  approvalId: string;
  approved: boolean;
  decidedBy: ApprovalDecider;
}

/** What the model reads for a call that was denied, by who denied it. */
export function deniedToolResult(decidedBy: ApprovalDecider, reason: string | null): string {
  switch (decidedBy) {
    case 'user':
      return reason
        ? `The user denied this tool call, so it did not run. Reason: ${reason}`
        : 'The user denied this tool call, so it did not run.';
    case 'timeout':
      return 'Nobody approved this tool call in time (the approval expired), so it did not run.';
    case 'stop':
      return 'The user stopped the turn while this tool call waited for approval, so it did not run.';
    case 'superseded':
      return 'The user sent a new message instead of approving this tool call, so it did not run.';
  }
}

/** Builds the approval activities: ask for approvals of a hop's calls, record a decision. */
export function createApprovalActivities(deps: ActivityDeps) {
  const workerApprovalTools = new Set(deps.approvalTools ?? []);
  const timeoutMs = deps.approvalTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;

  /**
   * Decides which calls of a hop need a person's approval, stores each with its exact arguments (once: a retry finds
   * the first request, with its own deadline) and announces `approval_requested` for it. Returns only ids, hashes
   * and deadlines: nothing of the arguments enters the workflow.
   */
  async function requestApprovals(input: RequestApprovalsInput): Promise<{ pending: PendingApproval[] }> {
    const offered = new Set(input.offered);
    const forced = new Set([...workerApprovalTools, ...input.approvalTools]);
    const calls = await storageStep(() => hopToolCalls(deps.pool, input.turnId, input.hop));
    const needed: { call: (typeof calls)[number]; reason: string | null }[] = [];
    for (const call of calls) {
      const name = call.function.name;
      const tool = offered.has(name) ? deps.tools.get(name) : undefined;
      const need = await approvalNeed(
        tool,
        { id: call.id, name, arguments: call.function.arguments },
        { turnId: input.turnId, hop: input.hop, toolCallId: call.id },
        forced.has(name),
      );
      if (need.required) needed.push({ call, reason: need.reason === null ? null : storableText(need.reason) });
    }
    if (needed.length === 0) return { pending: [] };
    return storageStep(async () => {
      const rows: ApprovalRow[] = [];
      for (const { call, reason } of needed) {
        rows.push(
          await storeApprovalRequest(deps.pool, {
            turnId: input.turnId,
            hop: input.hop,
            toolCallId: call.id,
            toolName: call.function.name,
            arguments: call.function.arguments,
            reason,
            timeoutMs,
          }),
        );
      }
      const writer = await StreamWriter.open(deps.pool, {
        turnId: input.turnId,
        hop: input.hop,
        persistence: input.persistence,
        attempt: Context.current().info.attempt,
        channels: deps.streamConnections,
      });
      try {
        for (const row of rows) {
          await writer.event(
            {
              type: 'approval_requested',
              approvalId: row.approvalId,
              toolCallId: row.toolCallId,
              toolName: row.toolName,
              arguments: row.arguments,
              reason: row.reason,
              expiresAt: row.expiresAt.toISOString(),
            },
            eventKeys.approvalRequested({ hop: input.hop, toolCallId: row.toolCallId }),
          );
        }
        await writer.close();
      } finally {
        writer.abandon();
      }
      return {
        pending: rows.map((row) => ({
          approvalId: row.approvalId,
          toolCallId: row.toolCallId,
          toolName: row.toolName,
          argumentsHash: row.argumentsHash,
          expiresAtMs: row.expiresAt.getTime(),
        })),
      };
    });
  }

  /**
   * Records the decision the turn took for one approval (the first recorded stands: a retry changes nothing),
   * gives a denied call its result (the model reads who denied it and why), and announces `approval_decided`.
   */
  async function recordApprovalDecision(input: RecordApprovalDecisionInput): Promise<RecordedApprovalDecision> {
    return storageStep(async () => {
      const row = await recordDecision(deps.pool, input);
      if (!row || row.approved === null || row.decidedBy === null) {
        throw new Error(`approval ${input.approvalId} of ${input.turnId} is not stored`);
      }
      if (!row.approved) {
        const saved = await saveToolResult(deps.pool, input.turnId, input.hop, {
          toolCallId: row.toolCallId,
          name: row.toolName,
          content: deniedToolResult(row.decidedBy, row.decisionReason),
          isError: true,
        });
        // Counted by the one call that stored the result.
        if (saved.insertedFor !== null) {
          deps.metrics?.toolResultStored({ tenantId: saved.insertedFor, tool: saved.name, outcome: 'denied' });
        }
      }
      const writer = await StreamWriter.open(deps.pool, {
        turnId: input.turnId,
        hop: input.hop,
        persistence: input.persistence,
        attempt: Context.current().info.attempt,
        channels: deps.streamConnections,
      });
      try {
        await writer.event(
          {
            type: 'approval_decided',
            approvalId: row.approvalId,
            toolCallId: row.toolCallId,
            approved: row.approved,
            reason: row.decisionReason,
            decidedBy: row.decidedBy,
          },
          eventKeys.approvalDecided(row.approvalId),
        );
        await writer.close();
      } finally {
        writer.abandon();
      }
      return { approvalId: row.approvalId, approved: row.approved, decidedBy: row.decidedBy };
    });
  }

  return { requestApprovals, recordApprovalDecision };
}
