import type { Pool, PoolClient } from 'pg';
import type { TokenCounts, Usage } from '../../common';

/** How an LLM attempt ended, as the usage table records it. */
export type AttemptOutcome = 'ok' | 'failed' | 'cancelled';

/** What one LLM attempt cost, as the provider reported it. */
export interface AttemptUsage {
  turnId: string;
  hop: number;
  attempt: number;
  model: string;
  outcome: AttemptOutcome;
  /** Whether the provider began a response (a stream); false for an HTTP error or a connection that failed. */
  streamed: boolean;
  /** `null`: the response carried no usage (recorded as such, never guessed). */
  tokens: TokenCounts | null;
}

/** A usage row as this call wrote it: what the exactly-once counters count. */
export interface RecordedAttempt {
  tenantId: string;
  model: string;
  outcome: AttemptOutcome | 'lost';
  tokens: TokenCounts | null;
  /** False when this write filled in a row an earlier attempt had recorded as `lost` (the attempt was counted). */
  newAttempt: boolean;
}

/**
 * Records one attempt's usage, once: a retry of the write, a replay or a second reader never adds to it. A row
 * the next attempt left as `lost` (this attempt's worker looked dead) is filled in by this late write. Returns the
 * row when this call wrote it, `null` when it was already recorded (count nothing then).
 */
export async function recordAttemptUsage(db: Pool | PoolClient, u: AttemptUsage): Promise<RecordedAttempt | null> {
  const t = u.tokens;
  const { rows } = await db.query<{ tenant_id: string; inserted: boolean }>(
    `INSERT INTO llm_usage (tenant_id, turn_id, hop, attempt, conversation_id, model, outcome, streamed, usage_reported,
                            input_tokens, output_tokens, cached_input_tokens, reasoning_tokens)
     SELECT tenant_id, id, $2, $3, conversation_id, $4, $5, $6, $7, $8, $9, $10, $11 FROM turns WHERE id = $1
     ON CONFLICT (tenant_id, turn_id, hop, attempt) DO UPDATE
       SET outcome = EXCLUDED.outcome, streamed = EXCLUDED.streamed, usage_reported = EXCLUDED.usage_reported,
           input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
           cached_input_tokens = EXCLUDED.cached_input_tokens, reasoning_tokens = EXCLUDED.reasoning_tokens
       WHERE llm_usage.outcome = 'lost'
     RETURNING tenant_id, (xmax = 0) AS inserted`,
    [
      u.turnId,
      u.hop,
      u.attempt,
      u.model,
      u.outcome,
      u.streamed,
      t !== null,
      t?.inputTokens ?? 0,
      t?.outputTokens ?? 0,
      t?.cachedInputTokens ?? 0,
      t?.reasoningTokens ?? 0,
    ],
  );
  const row = rows[0];
  return row
    ? { tenantId: row.tenant_id, model: u.model, outcome: u.outcome, tokens: t, newAttempt: row.inserted }
    : null;
}

/**
 * Records the earlier attempts of a hop that left no row (their worker died mid-stream, or could not write) as
 * `lost`: an attempt the provider may have billed, whose usage nobody will ever know. Returns those rows.
 */
export async function recordLostAttempts(
  db: Pool | PoolClient,
  a: { turnId: string; hop: number; attempt: number; model: string },
): Promise<RecordedAttempt[]> {
  if (a.attempt <= 1) return [];
  const { rows } = await db.query<{ tenant_id: string }>(
    `INSERT INTO llm_usage (tenant_id, turn_id, hop, attempt, conversation_id, model, outcome, streamed, usage_reported)
     SELECT t.tenant_id, t.id, $2, n, t.conversation_id, $4, 'lost', NULL, false
     FROM turns t, generate_series(1, $3 - 1) AS n WHERE t.id = $1
     ON CONFLICT DO NOTHING
     RETURNING tenant_id`,
    [a.turnId, a.hop, a.attempt, a.model],
  );
  return rows.map((r) => ({ tenantId: r.tenant_id, model: a.model, outcome: 'lost', tokens: null, newAttempt: true }));
}

/** The turn's own totals over every recorded attempt (retried ones included); `null` when none was recorded. */
export async function turnUsage(db: Pool | PoolClient, turnId: string): Promise<Usage | null> {
  const { rows } = await db.query<{
    attempts: number;
    without: number;
    input: string;
    output: string;
    cached: string;
    reasoning: string;
  }>(
    `SELECT count(*)::int AS attempts,
            count(*) FILTER (WHERE NOT usage_reported AND streamed IS NOT FALSE)::int AS without,
            coalesce(sum(input_tokens), 0) AS input, coalesce(sum(output_tokens), 0) AS output,
            coalesce(sum(cached_input_tokens), 0) AS cached, coalesce(sum(reasoning_tokens), 0) AS reasoning
     FROM llm_usage WHERE turn_id = $1`,
    [turnId],
  );
  const row = rows[0];
  if (!row || row.attempts === 0) return null;
  const input = Number(row.input);
  const output = Number(row.output);
  return {
    promptTokens: input,
    completionTokens: output,
    totalTokens: input + output,
    cachedInputTokens: Number(row.cached),
    reasoningTokens: Number(row.reasoning),
    llmAttempts: row.attempts,
    responsesWithoutUsage: row.without,
  };
}

/** Input + output tokens counted for the turn so far, over every recorded attempt. */
export async function turnTokens(db: Pool | PoolClient, turnId: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `SELECT coalesce(sum(input_tokens + output_tokens), 0) AS n FROM llm_usage WHERE turn_id = $1`,
    [turnId],
  );
  return Number(rows[0]?.n ?? 0);
}
