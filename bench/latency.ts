/**
 * Latency probe: chunk sent by the scripted model → text event received by a subscribed TurnClient, with N
 * turns streaming at once through a real worker, real Temporal and real Postgres (one process, one clock).
 *
 *   npm run --silent bench:latency -- [--turns 50] [--chunks 100] [--delay-ms 20] [--in-process]
 *
 * By default the worker runs as its own process (`worker/main.ts`), as in production; the scripted model and
 * the subscribed clients share this process, so sent and received times come from one clock.
 * `--in-process` runs the worker here too (one event loop does everything).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { NativeConnection } from '@temporalio/worker';
import OpenAI from 'openai';
import type pg from 'pg';
import pino from 'pino';
import { builtinTools, createToolRegistry } from '../activities/tools';
import { TurnClient } from '../client';
import { createPool } from '../db';
import { startScriptedLlm } from '../scripted-llm';
import { teardownTestEnv, testEnv } from '../test/support';
import { workflowBundle } from '../test/turn/harness';
import { createTurnWorker } from '../worker/create-worker';

const MODEL = 'bench-model';

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      turns: { type: 'string', default: '50' },
      chunks: { type: 'string', default: '100' },
      'delay-ms': { type: 'string', default: '20' },
      'in-process': { type: 'boolean', default: false },
    },
  });
  const turnCount = Number(values.turns);
  const chunkCount = Number(values.chunks);
  const delayMs = Number(values['delay-ms']);

  const env = await testEnv();
  // The worker's default pool: its stream writers share a few connections whatever the number of turns.
  const pool = createPool({ connectionString: env.databaseUrl, max: 20 }, (err) =>
    console.error(`bench: database connection failed: ${err.message}`),
  );
  const llm = await startScriptedLlm({ port: 0 });
  const taskQueue = `bench-${process.pid}`;
  // sentAt of the k-th text chunk of the turn whose message is `turn <i>`.
  const sent = new Map<number, number[]>();
  const turnOfRequest = new Map<number, number>();
  llm.respond((req) => {
    const last = (req.body.messages as { content?: unknown }[]).at(-1)?.content;
    const i = Number(typeof last === 'string' ? last.replace('turn ', '') : NaN);
    turnOfRequest.set(req.index, i);
    sent.set(i, []);
    const text = Array.from({ length: chunkCount }, (_, k) => `t${i}c${k} `).join('');
    return { steps: [{ text }], delayMs };
  });
  llm.onChunkSent = (info) => {
    if (info.text === undefined) return;
    const i = turnOfRequest.get(info.requestIndex);
    if (i !== undefined) sent.get(i)?.push(info.sentAt);
  };

  const runWorker = values['in-process']
    ? await inProcessWorker(env.temporal.address, taskQueue, pool, llm.baseURL)
    : spawnWorker(env.temporal.address, taskQueue, env.databaseUrl, llm.baseURL);
  const turns = new TurnClient({
    temporal: env.temporal.client,
    pool: env.pool,
    databaseUrl: env.databaseUrl,
    taskQueue,
  });
  const latencies: number[] = [];
  let mismatched = 0;

  const started = performance.now();
  await runWorker(async () => {
    await Promise.all(
      Array.from({ length: turnCount }, async (_, i) => {
        const { turnId } = await turns.start({
          conversationId: `bench-${process.pid}-${i}`,
          requestId: 'r',
          message: `turn ${i}`,
        });
        let k = 0;
        for await (const event of turns.events(turnId)) {
          if (event.type !== 'text') continue;
          const receivedAt = performance.timeOrigin + performance.now();
          const sentAt = sent.get(i)?.[k];
          if (sentAt === undefined) mismatched += 1;
          else latencies.push(receivedAt - sentAt);
          k += 1;
        }
        await turns.result(turnId);
      }),
    );
  });
  const elapsed = performance.now() - started;

  const rows = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM turn_events`);
  latencies.sort((a, b) => a - b);
  const fmt = (n: number) => n.toFixed(2);
  const where = values['in-process'] ? 'in-process worker' : 'worker process';
  console.log(
    `turns=${turnCount} chunks/turn=${chunkCount} pacing=${delayMs}ms ${where} wall=${(elapsed / 1000).toFixed(1)}s`,
  );
  console.log(`deltas measured=${latencies.length} unmatched=${mismatched}`);
  console.log(
    `latency ms: p50=${fmt(percentile(latencies, 50))} p90=${fmt(percentile(latencies, 90))} ` +
      `p99=${fmt(percentile(latencies, 99))} max=${fmt(latencies.at(-1) ?? NaN)}`,
  );
  console.log(
    `stream-log rows=${rows.rows[0]?.n} (deltas stored in batches: ${(Number(rows.rows[0]?.n) / turnCount).toFixed(1)} rows/turn)`,
  );

  await turns.close();
  await pool.end();
  await llm.close();
}

type RunWorker = (fn: () => Promise<void>) => Promise<void>;

async function inProcessWorker(address: string, taskQueue: string, pool: pg.Pool, baseURL: string): Promise<RunWorker> {
  const connection = await NativeConnection.connect({ address });
  const worker = await createTurnWorker({
    connection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    deps: {
      pool,
      openai: new OpenAI({ baseURL, apiKey: 'bench', maxRetries: 0 }),
      tools: createToolRegistry(builtinTools()),
      models: { default: MODEL, allowed: [MODEL] },
      logger: pino({ level: 'silent' }),
    },
  });
  return async (fn) => {
    try {
      await worker.runUntil(fn);
    } finally {
      await connection.close();
    }
  };
}

function spawnWorker(
  address: string,
  taskQueue: string,
  databaseUrl: string,
  baseURL: string,
): RunWorker {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'worker', 'main.ts')], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: address,
      TURNFLOW_TASK_QUEUE: taskQueue,
      DATABASE_URL: databaseUrl,
      OPENAI_BASE_URL: baseURL,
      OPENAI_API_KEY: 'bench',
      OPENAI_MODEL: MODEL,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return async (fn) => {
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`the worker exited (${code})`))),
    );
    try {
      await Promise.race([fn(), exited]);
    } finally {
      child.kill('SIGTERM');
    }
  };
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => teardownTestEnv());
