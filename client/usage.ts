import type { Pool } from 'pg';

/** How `GET /v1/usage` may group: by the turn's model, by conversation, by UTC day. */
export type UsageGroupBy = 'model' | 'conversation' | 'day';

/** A tenant's totals over a time range (or one group of it). */
export interface UsageTotals {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  reasoningTokens: number;
  /** LLM attempts, retried and failed ones included. */
  llmAttempts: number;
  /** Attempts whose response reported no usage, or whose worker died before recording it. */
  responsesWithoutUsage: number;
  /** Turns started in the range, by how they stand or ended (see {@link TURN_OUTCOME_SQL}). */
  turns: Record<string, number>;
  /** Tool results stored in the range. */
  toolCalls: number;
}

/** One group of a grouped report: its key and its totals. */
export type UsageGroup = UsageTotals & { key: string };

/** A tenant's usage report. */
export interface UsageReport extends UsageTotals {
  from: string;
  to: string;
  groupBy?: UsageGroupBy;
  groups?: UsageGroup[];
}

/**
 * How a turn stands or ended, in the words of `turnflow_turns_total{status}`: `completed`, `failed`, `cancelled`,
 * `interrupted`, `hop_limit`, `budget_exhausted`, or its stored status while it is not finished (`running`, `queued`,
 * `steered`). SQL over a `turns` row aliased `t`.
 */
export const TURN_OUTCOME_SQL = `CASE
    WHEN t.finish_reason = 'budget_exhausted' THEN 'budget_exhausted'
    WHEN t.status = 'cancelled' AND t.finish_reason = 'interrupted' THEN 'interrupted'
    WHEN t.status = 'completed' AND t.finish_reason = 'tool_limit_reached' THEN 'hop_limit'
    ELSE t.status END`;

/** The SQL key of each grouping, per table alias; fixed strings, never the caller's text. */
const GROUP_KEYS: Record<UsageGroupBy, { usage: string; turns: string; tools: string }> = {
  model: { usage: 'u.model', turns: `coalesce(t.model, '')`, tools: `coalesce(t.model, '')` },
  conversation: { usage: 'u.conversation_id', turns: 't.conversation_id', tools: 'm.conversation_id' },
  day: {
    usage: `to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
    turns: `to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
    tools: `to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
  },
};

/** Most groups a report returns (the ones with the most tokens); `truncated` says when more exist. */
export const MAX_USAGE_GROUPS = 1000;

/**
 * The tenant's usage from `from` (inclusive) to `to` (exclusive): tokens and attempts from the usage table (each
 * attempt recorded once), turns by their start time, tool calls by when their result was stored. Only the tenant's
 * own rows are read.
 */
export async function usageReport(
  pool: Pool,
  tenantId: string,
  range: { from: Date; to: Date; groupBy?: UsageGroupBy },
): Promise<UsageReport & { truncated?: boolean }> {
  const keys = range.groupBy ? GROUP_KEYS[range.groupBy] : { usage: `''`, turns: `''`, tools: `''` };
  const params = [tenantId, range.from.toISOString(), range.to.toISOString()];
  const [usage, turns, tools] = await Promise.all([
    pool.query<{ key: string; i: string; o: string; c: string; r: string; attempts: number; without: number }>(
      `SELECT ${keys.usage} AS key, sum(input_tokens) AS i, sum(output_tokens) AS o, sum(cached_input_tokens) AS c,
              sum(reasoning_tokens) AS r, count(*)::int AS attempts,
              count(*) FILTER (WHERE NOT usage_reported AND streamed IS NOT FALSE)::int AS without
       FROM llm_usage u WHERE u.tenant_id = $1 AND u.created_at >= $2 AND u.created_at < $3 GROUP BY 1`,
      params,
    ),
    pool.query<{ key: string; outcome: string; n: number }>(
      `SELECT ${keys.turns} AS key, ${TURN_OUTCOME_SQL} AS outcome, count(*)::int AS n
       FROM turns t WHERE t.tenant_id = $1 AND t.created_at >= $2 AND t.created_at < $3 GROUP BY 1, 2`,
      params,
    ),
    pool.query<{ key: string; n: number }>(
      `SELECT ${keys.tools} AS key, count(*)::int AS n
       FROM messages m ${range.groupBy === 'model' ? 'JOIN turns t ON t.id = m.turn_id' : ''}
       WHERE m.tenant_id = $1 AND m.kind = 'tool' AND m.created_at >= $2 AND m.created_at < $3 GROUP BY 1`,
      params,
    ),
  ]);
  const groups = new Map<string, UsageTotals>();
  const group = (key: string) => {
    let totals = groups.get(key);
    if (!totals) groups.set(key, (totals = emptyTotals()));
    return totals;
  };
  for (const row of usage.rows) {
    const g = group(row.key);
    g.inputTokens += Number(row.i);
    g.outputTokens += Number(row.o);
    g.cachedInputTokens += Number(row.c);
    g.reasoningTokens += Number(row.r);
    g.llmAttempts += row.attempts;
    g.responsesWithoutUsage += row.without;
  }
  for (const row of turns.rows) group(row.key).turns[row.outcome] = row.n;
  for (const row of tools.rows) group(row.key).toolCalls += row.n;

  const all = emptyTotals();
  for (const g of groups.values()) add(all, g);
  const report: UsageReport & { truncated?: boolean } = {
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    ...all,
  };
  if (!range.groupBy) return report;
  const sorted = [...groups]
    .map(([key, totals]) => ({ key, ...totals }))
    .sort((a, b) => b.inputTokens + b.outputTokens - (a.inputTokens + a.outputTokens) || a.key.localeCompare(b.key));
  report.groupBy = range.groupBy;
  report.groups = sorted.slice(0, MAX_USAGE_GROUPS);
  if (sorted.length > MAX_USAGE_GROUPS) report.truncated = true;
  return report;
}

function emptyTotals(): UsageTotals {
  return {
    inputTokens: 0,
    outputTokens: 0,
    cachedInputTokens: 0,
    reasoningTokens: 0,
    llmAttempts: 0,
    responsesWithoutUsage: 0,
    turns: {},
    toolCalls: 0,
  };
}

function add(into: UsageTotals, g: UsageTotals): void {
  into.inputTokens += g.inputTokens;
  into.outputTokens += g.outputTokens;
  into.cachedInputTokens += g.cachedInputTokens;
  into.reasoningTokens += g.reasoningTokens;
  into.llmAttempts += g.llmAttempts;
  into.responsesWithoutUsage += g.responsesWithoutUsage;
  into.toolCalls += g.toolCalls;
  for (const [status, n] of Object.entries(g.turns)) into.turns[status] = (into.turns[status] ?? 0) + n;
}
