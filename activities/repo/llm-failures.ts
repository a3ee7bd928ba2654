import type { Pool } from 'pg';

/** One provider failure of an LLM attempt. */
export interface ProviderFailure {
  turnId: string;
  hop: number;
  attempt: number;
  /** The failure's dotted type, e.g. `llm.server_error`. */
  type: string;
}

/**
 * Records a provider failure of one attempt (once, whatever retries of the write) and returns how many
 * attempts of the hop have failed on the provider's side so far.
 */
export async function recordProviderFailure(db: Pool, failure: ProviderFailure): Promise<number> {
  const { rows } = await db.query<{ failures: number }>(
    `WITH recorded AS (
       INSERT INTO llm_failures (turn_id, hop, attempt, failure_type) VALUES ($1, $2, $3, $4)
       ON CONFLICT DO NOTHING RETURNING attempt
     )
     SELECT (SELECT count(*) FROM llm_failures WHERE turn_id = $1 AND hop = $2 AND attempt <> $3)::int
            + 1 AS failures`,
    [failure.turnId, failure.hop, failure.attempt, failure.type],
  );
  return rows[0]?.failures ?? 1;
}
