import type pg from 'pg';
import { z } from 'zod';
import { ExternalId } from '../common';
import { BudgetExhaustedError } from './errors';

const Tokens = z
  .string()
  .regex(/^\d{1,15}$/)
  .transform(Number);

/**
 * `TURNFLOW_TENANT_DAILY_TOKENS`: a default daily token budget for every tenant, then `tenant:tokens` overrides,
 * comma-separated (`200000,acme:1000000`); either part may be left out. Days are UTC.
 */
export const DailyTokenBudgets = z
  .string()
  .max(100_000)
  .transform((raw, ctx) => {
    const budgets: { default: number | null; tenants: Map<string, number> } = { default: null, tenants: new Map() };
    for (const entry of raw
      .split(',')
      .map((e) => e.trim())
      .filter((e) => e !== '')) {
      const colon = entry.lastIndexOf(':');
      const tenant = colon < 0 ? null : ExternalId.safeParse(entry.slice(0, colon));
      const tokens = Tokens.safeParse(colon < 0 ? entry : entry.slice(colon + 1));
      if (!tokens.success || (tenant !== null && !tenant.success)) {
        ctx.addIssue({ code: 'custom', message: `"${entry.slice(0, 80)}" is not tokens or tenant:tokens` });
        return z.NEVER;
      }
      if (tenant === null) budgets.default = tokens.data;
      else budgets.tenants.set(tenant.data, tokens.data);
    }
    return budgets;
  });
export type DailyTokenBudgets = z.output<typeof DailyTokenBudgets>;

/** Seconds from `now` to the next UTC midnight (at least 1): when a day's budget resets. */
export function secondsUntilUtcMidnight(now: Date): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.max(1, Math.ceil((next - now.getTime()) / 1000));
}

/**
 * Refuses a start while `tenant` has spent its daily budget: input + output tokens of every LLM attempt recorded
 * since the UTC day began (retried attempts included). A request attaching to a turn that exists is never refused.
 * Every start path calls it (`startTurn`, `startOrderedTurn`, so `TurnClient.start` and each gateway route).
 * @throws BudgetExhaustedError with the seconds until the next UTC midnight (by the database's clock).
 */
export async function checkDailyBudget(
  pool: pg.Pool,
  budgets: DailyTokenBudgets | undefined,
  tenant: string,
  turnId: string,
): Promise<void> {
  const limit = budgets?.tenants.get(tenant) ?? budgets?.default ?? null;
  if (limit === null) return;
  const { rows } = await pool.query<{ used: string; exists: boolean; now: Date }>(
    `SELECT coalesce((SELECT sum(input_tokens + output_tokens) FROM llm_usage
                      WHERE tenant_id = $1 AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'),
                     0) AS used,
            EXISTS (SELECT 1 FROM turns WHERE id = $2) AS exists, now() AS now`,
    [tenant, turnId],
  );
  const row = rows[0]!;
  if (row.exists || Number(row.used) < limit) return;
  throw new BudgetExhaustedError(tenant, limit, secondsUntilUtcMidnight(row.now));
}
