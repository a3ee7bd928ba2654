/**
 * Start latency of the ordered path (claim + update-with-start on the conversation's workflow) against a direct turn
 * start (claim + workflow start), on a real Temporal dev server, real Postgres and an in-process worker.
 *
 *   npm run --silent bench:ordering -- [--samples 100]
 *
 * Samples alternate between the paths, one at a time, each turn finishing before the next sample, so both see the
 * same machine. Three cases: `direct` (startTurn), `ordered-new` (the conversation's first turn: its workflow is
 * started by the same call), `ordered-idle` (a later turn of an idle conversation: the common case).
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { WorkflowNotFoundError } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import OpenAI from 'openai';
import pino from 'pino';
import { builtinTools, createToolRegistry } from '../activities/tools';
import { startOrderedTurn, startTurn, type StartTurnDeps } from '../client';
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
  const { values } = parseArgs({ options: { samples: { type: 'string', default: '100' } } });
  const samples = Number(values.samples);
  const env = await testEnv();
  const llm = await startScriptedLlm({ port: 0 });
  llm.respond(() => ({ steps: [{ text: 'ok' }] }));
  const taskQueue = `bench-ordering-${process.pid}`;
  const connection = await NativeConnection.connect({ address: env.temporal.address });
  const worker = await createTurnWorker({
    connection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    deps: {
      pool: env.pool,
      openai: new OpenAI({ baseURL: llm.baseURL, apiKey: 'bench', maxRetries: 0 }),
      tools: createToolRegistry(builtinTools()),
      models: { default: MODEL, allowed: [MODEL] },
      logger: pino({ level: 'silent' }),
    },
  });
  const deps: StartTurnDeps = { temporal: env.temporal.client, pool: env.pool };
  const times = { direct: [] as number[], 'ordered-new': [] as number[], 'ordered-idle': [] as number[] };
  const run = `${process.pid}`;

  await worker.runUntil(async () => {
    const timed = async (fn: () => Promise<{ turnId: string }>) => {
      const t0 = performance.now();
      const { turnId } = await fn();
      const ms = performance.now() - t0;
      // A turn the conversation accepted may not have its workflow for a moment: wait for it to exist and end.
      for (;;) {
        try {
          await env.temporal.client.workflow.getHandle(turnId).result();
          break;
        } catch (err: unknown) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      return ms;
    };
    const warmup = 5;
    for (let i = -warmup; i < samples; i++) {
      const conversationId = `bench-${run}-${i + warmup}`;
      const direct = await timed(() =>
        startTurn(deps, { conversationId: `${conversationId}-d`, requestId: 'r1', message: 'hi' }, { taskQueue }),
      );
      const orderedNew = await timed(() =>
        startOrderedTurn(deps, { conversationId, requestId: 'r1', message: 'hi' }, { taskQueue }),
      );
      const orderedIdle = await timed(() =>
        startOrderedTurn(deps, { conversationId, requestId: 'r2', message: 'again' }, { taskQueue }),
      );
      if (i < 0) continue;
      if ((i + 1) % 10 === 0) console.error(`bench: ${i + 1}/${samples}`);
      times.direct.push(direct);
      times['ordered-new'].push(orderedNew);
      times['ordered-idle'].push(orderedIdle);
    }
  });
  await connection.close();
  await llm.close();

  const fmt = (n: number) => n.toFixed(1);
  const median = (xs: number[]) =>
    percentile(
      [...xs].sort((a, b) => a - b),
      50,
    );
  console.log(`samples=${samples} per path (after ${5} warm-up rounds), in-process worker, start call only`);
  for (const [name, xs] of Object.entries(times)) {
    const sorted = [...xs].sort((a, b) => a - b);
    console.log(
      `${name.padEnd(13)} p50=${fmt(percentile(sorted, 50))} ms  p90=${fmt(percentile(sorted, 90))} ms  ` +
        `max=${fmt(sorted.at(-1) ?? NaN)} ms`,
    );
  }
  console.log(
    `added p50: ordered-idle - direct = ${fmt(median(times['ordered-idle']) - median(times.direct))} ms, ` +
      `ordered-new - direct = ${fmt(median(times['ordered-new']) - median(times.direct))} ms`,
  );
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => teardownTestEnv());
