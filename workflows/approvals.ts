import { ApplicationFailure, condition, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { PendingApproval, RecordedApprovalDecision } from '../activities';
import type { ApprovalDecider } from '../common';

/**
 * Input of {@link decideApproval}: ids and the decision only. The person's reason never enters Temporal: the caller
 * stores it in Postgres first, and the turn records it with the decision.
 */
export interface DecideApprovalInput {
  approvalId: string;
  approved: boolean;
}

/** The decision that stands for an approval. */
export type ApprovalDecision = RecordedApprovalDecision;

/** Failure types of {@link decideApproval}'s validator: the update is refused and nothing is recorded. */
export const APPROVAL_FAILURE = {
  notFound: 'approval.not_found',
  conflict: 'approval.conflict',
  expired: 'approval.expired',
} as const;

/**
 * A person's decision on a call waiting for approval. Refused before anything is recorded for an approval this turn
 * does not have (`approval.not_found`), one already decided otherwise (`approval.conflict`) and one past its deadline
 * (`approval.expired`). The same decision again answers the decision that stands. Completes once it is recorded.
 */
export const decideApproval = defineUpdate<ApprovalDecision, [DecideApprovalInput]>('decideApproval');

/**
 * A newer message of the conversation waits for this turn: every call waiting for approval is denied (`superseded`),
 * now or as soon as it asks, and a turn that had calls denied so ends after that tool round, without another model
 * call. A turn with no call waiting for a person runs on as usual.
 */
export const supersedeApprovals = defineSignal('supersedeApprovals');

const MAX_APPROVAL_ID = 64;

/** The approvals of one turn, as the workflow knows them: ids, hashes, deadlines and decisions. */
export class ApprovalBook {
  private readonly requested = new Map<string, PendingApproval>();
  /** Decisions taken (by a person, the clock, a stop, a new message), recorded or not yet. */
  private readonly taken = new Map<string, { approved: boolean; decidedBy: ApprovalDecider }>();
  private readonly recorded = new Map<string, ApprovalDecision>();

  add(pending: PendingApproval): void {
    this.requested.set(pending.approvalId, pending);
  }

  /** The approvals still waiting for a decision. */
  waiting(): PendingApproval[] {
    return [...this.requested.values()].filter((p) => !this.taken.has(p.approvalId));
  }

  isDecided(approvalId: string): boolean {
    return this.taken.has(approvalId);
  }

  /** Takes a decision, unless one was taken already (the first one stands). */
  decide(approvalId: string, approved: boolean, decidedBy: ApprovalDecider): void {
    if (!this.taken.has(approvalId)) this.taken.set(approvalId, { approved, decidedBy });
  }

  decision(approvalId: string): { approved: boolean; decidedBy: ApprovalDecider } | undefined {
    return this.taken.get(approvalId);
  }

  /** Keeps the decision Postgres recorded (it stands, whatever was taken here). */
  record(decision: ApprovalDecision): void {
    this.taken.set(decision.approvalId, { approved: decision.approved, decidedBy: decision.decidedBy });
    this.recorded.set(decision.approvalId, decision);
  }

  recordedDecision(approvalId: string): ApprovalDecision | undefined {
    return this.recorded.get(approvalId);
  }

  /** {@link decideApproval}'s validator: throws, so nothing is recorded, for what must be refused. */
  validate(input: DecideApprovalInput, nowMs: number): void {
    if (
      typeof input !== 'object' ||
      input === null ||
      typeof input.approvalId !== 'string' ||
      input.approvalId.length > MAX_APPROVAL_ID ||
      typeof input.approved !== 'boolean'
    ) {
      throw ApplicationFailure.nonRetryable('invalid approval decision', APPROVAL_FAILURE.notFound);
    }
    const pending = this.requested.get(input.approvalId);
    if (!pending) throw ApplicationFailure.nonRetryable('no such approval', APPROVAL_FAILURE.notFound);
    const taken = this.taken.get(input.approvalId);
    if (taken) {
      if (taken.decidedBy === 'timeout') throw expired();
      if (taken.decidedBy !== 'user' || taken.approved !== input.approved) {
        throw ApplicationFailure.create({
          message: `the approval was already decided: ${taken.approved ? 'approved' : 'denied'} (${taken.decidedBy})`,
          type: APPROVAL_FAILURE.conflict,
          nonRetryable: true,
          details: [taken],
        });
      }
      return;
    }
    if (nowMs >= pending.expiresAtMs) throw expired();
  }

  /** {@link decideApproval}'s handler: takes the decision and answers once the decision that stands is recorded. */
  async handle(input: DecideApprovalInput): Promise<ApprovalDecision> {
    this.decide(input.approvalId, input.approved, 'user');
    await condition(() => this.recorded.has(input.approvalId));
    return this.recorded.get(input.approvalId)!;
  }
}

function expired(): ApplicationFailure {
  return ApplicationFailure.nonRetryable('the approval expired', APPROVAL_FAILURE.expired);
}
