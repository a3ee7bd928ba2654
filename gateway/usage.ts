import { Hono } from 'hono';
import type pg from 'pg';
import { z } from 'zod';
import { usageReport } from '../client';
import type { AppEnv } from './auth';
import { validate } from './request';

/** Longest range one `GET /v1/usage` may cover. */
export const MAX_USAGE_RANGE_DAYS = 366;

const Instant = z.iso
  .datetime({ offset: true, message: 'must be an ISO 8601 date-time with a zone, e.g. 2026-12-01T00:00:00Z' })
  .max(40)
  .transform((s) => new Date(s));

/** Query of `GET /v1/usage`: `from` and `to` (ISO times, `to` exclusive), optional `groupBy`. */
export const UsageQuery = z
  .strictObject({
    from: Instant,
    to: Instant,
    groupBy: z.enum(['model', 'conversation', 'day']).optional(),
  })
  // zod runs these even when a field failed: they look only at dates that parsed.
  .refine((q) => !bothDates(q) || q.from.getTime() < q.to.getTime(), {
    message: 'from must be before to',
    path: ['to'],
  })
  .refine((q) => !bothDates(q) || q.to.getTime() - q.from.getTime() <= MAX_USAGE_RANGE_DAYS * 86_400_000, {
    message: `the range must be at most ${MAX_USAGE_RANGE_DAYS} days`,
    path: ['to'],
  });

function bothDates(q: { from: unknown; to: unknown }): q is { from: Date; to: Date } {
  return q.from instanceof Date && q.to instanceof Date;
}

/**
 * `GET /usage?from=&to=&groupBy=`: the caller's tenant's tokens, LLM attempts, turns and tool calls in the range
 * (client/usage.ts); grouped, one object per group under `groups`. Mounted under `/v1`.
 */
export function usageRoutes(deps: { pool: pg.Pool }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/usage', async (c) => {
    const query = validate(UsageQuery, c.req.query(), 'query');
    const report = await usageReport(deps.pool, c.var.tenant, {
      from: query.from,
      to: query.to,
      ...(query.groupBy === undefined ? {} : { groupBy: query.groupBy }),
    });
    return c.json(report);
  });
  return app;
}
