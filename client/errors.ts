/**
 * Thrown by `TurnClient.start` (and `startOrderedTurn`) when no worker accepted the turn within the start deadline:
 * none polls the task queue, or none took the workflow task the start waits for (the conversation's, or the turn's
 * own first one when it started directly). The request is stored and may still be accepted once a worker polls; retrying the same request (same request id) attaches to
 * that turn and never starts a second one.
 */
export class TurnStartTimeoutError extends Error {
  override readonly name = 'TurnStartTimeoutError';

  constructor(
    /** The request's own turn id. */
    readonly turnId: string,
    /** How long the start waited, in milliseconds. */
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(
      `turn ${turnId} was not accepted within ${timeoutMs} ms: no worker took its workflow task; ` +
        'retry the same request to attach to it',
      options,
    );
  }
}

/**
 * Thrown by `TurnClient.start` (and `startOrderedTurn`) when the conversation cannot take the turn because a
 * workflow task keeps failing (a non-determinism error or another bug in workflow code) in the workflow the start
 * reaches first: the conversation's, or the turn's own when it started directly (`workflowId` says which). A retry
 * will not help until an operator acts (see docs/operating.md). The request is stored; once the workflow runs again,
 * retrying the same request attaches to it.
 */
export class ConversationStuckError extends Error {
  override readonly name = 'ConversationStuckError';

  constructor(
    readonly conversationId: string,
    /** The failing workflow's id, for the operator: the conversation's, or the direct turn's. */
    readonly workflowId: string,
    /** Attempts of the workflow task that keeps failing. */
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(
      `conversation ${conversationId} cannot take turns: workflow ${workflowId} has a workflow task that ` +
        `failed ${attempts - 1} time(s) in a row (a bug: the worker logs it as an error for operators); ` +
        'retry the same request later to attach to it',
      options,
    );
  }
}

/**
 * Thrown by a call to a conversation's workflow other than a start (`TurnClient.turns`, `TurnClient.cancel` of a
 * queued or running turn) when it got no answer within the deadline: no worker polls the task queue, or none can
 * take the conversation's workflow task. Nothing changed that the caller can see; a cancel may still take effect
 * once a worker polls. Retry later.
 */
export class ConversationUnavailableError extends Error {
  override readonly name = 'ConversationUnavailableError';

  constructor(
    readonly conversationId: string,
    /** The conversation workflow's id, for the operator. */
    readonly workflowId: string,
    /** How long the call waited, in milliseconds. */
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(
      `conversation ${conversationId} did not answer within ${timeoutMs} ms: no worker took its workflow's task ` +
        `(${workflowId}); retry later`,
      options,
    );
  }
}

/**
 * Thrown by every start (`TurnClient.start`, `startOrderedTurn`, `startTurn`) while the tenant's tokens recorded
 * since midnight UTC reach its daily budget (`TURNFLOW_TENANT_DAILY_TOKENS`). Nothing was stored or started.
 */
export class BudgetExhaustedError extends Error {
  override readonly name = 'BudgetExhaustedError';

  constructor(
    readonly tenantId: string,
    /** The tenant's daily budget, in input + output tokens. */
    readonly dailyTokens: number,
    /** Seconds until the budget resets (the next UTC midnight). */
    readonly retryAfterSeconds: number,
  ) {
    super(`tenant ${tenantId} has used its daily budget of ${dailyTokens} tokens`);
  }
}

/**
 * Thrown by a claim (and so by every start) while the conversation is being deleted: nothing is stored. Once the
 * deletion has finished, the same conversation id starts a new, empty conversation.
 */
export class ConversationDeletingError extends Error {
  override readonly name = 'ConversationDeletingError';

  constructor(readonly conversationId: string) {
    super(`conversation ${conversationId} is being deleted`);
  }
}
