import type { TokenCounts } from '../common';

/**
 * What the activities report to the worker's metrics (`metrics/worker.ts` implements it with prom-client). Every
 * count is reported where its database write took effect: a turn when its row left `running`, an attempt and its
 * tokens when its `llm_usage` row was written by this call, a tool call when its result row was inserted. So a
 * retried activity, a replay or a second reader never counts twice; only a worker killed between its commit and
 * the next line can leave a commit uncounted.
 */
export interface TurnMetrics {
  /** A turn ended (`outcome`: see {@link turnOutcome}); `durationSeconds` from its claim to its end. */
  turnEnded(e: { tenantId: string; outcome: string; durationSeconds: number }): void;
  /** A queued turn began to run, `seconds` after it was accepted. */
  turnStarted(e: { tenantId: string; queueWaitSeconds: number }): void;
  /** The first text of a turn's first hop reached its stream, `seconds` after the turn was accepted. */
  firstToken(e: { tenantId: string; seconds: number }): void;
  /**
   * An LLM attempt's usage row was written by this call. `newAttempt` is false when it filled in a row an earlier
   * attempt had recorded as `lost` (the attempt was counted then; its tokens are counted now).
   */
  attemptRecorded(e: {
    tenantId: string;
    model: string;
    outcome: string;
    tokens: TokenCounts | null;
    newAttempt: boolean;
  }): void;
  /** A retried attempt announced its `reset` (once per attempt). */
  attemptReset(e: { tenantId: string | null; model: string }): void;
  /** One LLM call's duration, from the request to the end of its stream; `errorType` when it failed. */
  llmCall(e: { model: string; seconds: number; errorType: string | null }): void;
  /** A tool call's result was stored (once per call). */
  toolResultStored(e: { tenantId: string; tool: string; outcome: ToolCallOutcome }): void;
  /** One run of a tool (every attempt), `seconds` long. */
  toolRun(e: { tool: string; seconds: number }): void;
}

/** How a tool call ended, for `turnflow_tool_calls_total{outcome}`. */
export type ToolCallOutcome = 'ok' | 'error' | 'failed' | 'denied' | 'cancelled' | 'unknown';

/**
 * How a turn ended, in the words of `turnflow_turns_total{status}` and `/v1/usage` (`TURN_OUTCOME_SQL` says the
 * same in SQL): `budget_exhausted`, `interrupted`, `hop_limit`, else its status.
 */
export function turnOutcome(status: string, finishReason: string | null): string {
  if (finishReason === 'budget_exhausted') return 'budget_exhausted';
  if (status === 'cancelled' && finishReason === 'interrupted') return 'interrupted';
  if (status === 'completed' && finishReason === 'tool_limit_reached') return 'hop_limit';
  return status;
}
