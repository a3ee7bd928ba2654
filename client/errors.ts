/**
 * Thrown by `TurnClient.start` (and `startOrderedTurn`) when the conversation did not accept the turn within the
 * start deadline: no worker polls the task queue, or none can take the conversation's workflow task. The request
 * is stored and may still be accepted once a worker polls; retrying the same request (same request id) attaches to
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
      `turn ${turnId} was not accepted within ${timeoutMs} ms: no worker took the conversation's workflow task; ` +
        'retry the same request to attach to it',
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
