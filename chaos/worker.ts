// A turnflow worker for the chaos run: the real worker (config, activities, workflow bundle) plus the chaos tool,
// and an activity interceptor that tells the supervisor what runs where so it can aim its kills.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import type { Context as ActivityContext } from '@temporalio/activity';
import type pg from 'pg';
import { z } from 'zod';
import { defineTool } from '../activities/tools';
import { createPool } from '../db';
import { runWorkerProcess } from '../worker/process';
import { CHAOS_LOCAL_TOOL, CHAOS_TOOL, toolResultFor, type ChaosTool } from './plan';
import type { ControlReport } from './control';

const env = z
  .object({ CHAOS_CONTROL_URL: z.url(), CHAOS_WORKFLOW_BUNDLE: z.string().min(1), DATABASE_URL: z.string().min(1) })
  .parse(process.env);

/** Tells the supervisor something; its answer may come after it has killed us. */
async function report(body: ControlReport): Promise<void> {
  try {
    await fetch(env.CHAOS_CONTROL_URL, { method: 'POST', body: JSON.stringify({ ...body, pid: process.pid }) });
  } catch {
    // The supervisor is best effort: a lost report only makes a kill land elsewhere.
  }
}

/** Reports each activity's start and end with the turn it works for. */
class ReportingInbound implements ActivityInboundCallsInterceptor {
  constructor(private readonly ctx: ActivityContext) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const arg = (input.args[0] ?? {}) as { turnId?: unknown; hop?: unknown };
    const what = {
      // The supervisor aims at activities by their short name, whatever prefix they are registered under.
      activity: this.ctx.info.activityType.replace(/^turnflow\./, ''),
      turnId: typeof arg.turnId === 'string' ? arg.turnId : '',
      hop: typeof arg.hop === 'number' ? arg.hop : -1,
      attempt: this.ctx.info.attempt,
    };
    await report({ kind: 'activity-start', ...what });
    try {
      return await next(input);
    } finally {
      void report({ kind: 'activity-end', ...what });
    }
  }
}

/** Records every execution, with no unique constraint, so a second execution of a call is visible. */
function chaosTool(pool: pg.Pool, name: ChaosTool) {
  return defineTool({
    name,
    local: name === CHAOS_LOCAL_TOOL,
    description: 'Records that it ran and returns a receipt.',
    parameters: z.object({ turn: z.number().int(), hop: z.number().int(), n: z.number().int() }),
    timeoutMs: 10_000,
    retry: { maximumAttempts: 20, initialIntervalMs: 200, maximumIntervalMs: 2_000 },
    execute: async (args, ctx) => {
      const call = { turnId: ctx.turnId, hop: ctx.hop, toolCallId: ctx.toolCallId };
      await report({ kind: 'tool-start', ...call });
      await sleep(150, undefined, { signal: ctx.signal });
      await pool.query(
        `INSERT INTO chaos_tool_runs (idempotency_key, turn_id, hop, tool_call_id, pid) VALUES ($1, $2, $3, $4, $5)`,
        [ctx.idempotencyKey, ctx.turnId, ctx.hop, ctx.toolCallId, process.pid],
      );
      await report({ kind: 'tool-effect', ...call });
      await sleep(50, undefined, { signal: ctx.signal });
      return toolResultFor(args);
    },
  });
}

async function main(): Promise<void> {
  // The tool's own pool: a Postgres restart fails a query (the activity retries), never the process.
  const pool = createPool({ connectionString: env.DATABASE_URL, max: 10 }, () => undefined);
  try {
    await runWorkerProcess({
      tools: [chaosTool(pool, CHAOS_TOOL), chaosTool(pool, CHAOS_LOCAL_TOOL)],
      workflowBundle: { codePath: env.CHAOS_WORKFLOW_BUNDLE },
      interceptors: { activity: [(ctx) => ({ inbound: new ReportingInbound(ctx) })] },
    });
  } finally {
    await pool.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
