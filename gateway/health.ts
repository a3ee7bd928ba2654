import { Hono } from 'hono';
import type pg from 'pg';
import type { Logger } from 'pino';

/** A named dependency check for `/healthz`: resolves when the dependency answers. */
export type HealthCheck = () => Promise<unknown>;

/** How long one check may take before it counts as down. */
const CHECK_TIMEOUT_MS = 2_000;

/**
 * `GET /healthz`: 200 `{ ok: true, checks }` when Postgres (and every extra check, e.g. Temporal) answers,
 * else 503 `{ ok: false, checks }`. Unauthenticated; says nothing beyond up or down.
 */
export function healthRoutes(deps: { pool: pg.Pool; checks: Record<string, HealthCheck>; logger: Logger }): Hono {
  const app = new Hono();
  const checks: Record<string, HealthCheck> = { postgres: () => deps.pool.query('SELECT 1'), ...deps.checks };

  app.get('/healthz', async (c) => {
    const results = await Promise.all(
      Object.entries(checks).map(async ([name, check]) => [name, await run(name, check, deps.logger)] as const),
    );
    const ok = results.every(([, up]) => up === 'ok');
    return c.json({ ok, checks: Object.fromEntries(results) }, ok ? 200 : 503);
  });

  return app;
}

async function run(name: string, check: HealthCheck, logger: Logger): Promise<'ok' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (err: unknown) {
    logger.warn({ err, check: name }, 'health check failed');
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}
