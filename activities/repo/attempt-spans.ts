import type { Pool } from 'pg';

/** The W3C ids of a span. */
export interface SpanIds {
  traceId: string;
  spanId: string;
}

/**
 * Stores the span of an LLM attempt (the latest write for an attempt number wins) and returns the span of the
 * attempt before it in the same hop, if one was traced: the attempt this one replaces.
 */
export async function recordAttemptSpan(
  db: Pool,
  a: { turnId: string; hop: number; attempt: number } & SpanIds,
): Promise<SpanIds | null> {
  const { rows } = await db.query<{ trace_id: string; span_id: string }>(
    `WITH stored AS (
       INSERT INTO llm_attempt_spans (turn_id, hop, attempt, trace_id, span_id) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (turn_id, hop, attempt) DO UPDATE SET trace_id = EXCLUDED.trace_id, span_id = EXCLUDED.span_id
     )
     SELECT trace_id, span_id FROM llm_attempt_spans WHERE turn_id = $1 AND hop = $2 AND attempt = $3 - 1`,
    [a.turnId, a.hop, a.attempt, a.traceId, a.spanId],
  );
  const row = rows[0];
  return row ? { traceId: row.trace_id, spanId: row.span_id } : null;
}
