/**
 * The CPU cost of metrics, side by side: the same turns through the gateway on a stack with the metrics endpoints
 * off, then on a stack with them on (worker, Temporal SDK and gateway endpoints, each scraped once per run as
 * Prometheus would). CPU time per turn of each process of the stack from /proc, per run, and the medians.
 *
 *   npm run --silent bench:observability -- [--runs 3] [--turns 30] [--concurrency 10] [--chunks 20] [--modes off,metrics]
 *
 * It starts its own Postgres cluster and Temporal dev server (like `npm run bench`), so it needs nothing running.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { freePort } from '../dev';
import { warmUp } from './phases';
import { treeCpuMs } from './proc';
import { startStack, type BenchStack } from './stack';
import { median, round } from './stats';
import { gatewaySystem } from './systems/gateway';
import type { TurnRecord } from './systems/types';

const METRICS_VARIABLES = ['TURNFLOW_METRICS_PORT', 'TURNFLOW_SDK_METRICS_PORT', 'GATEWAY_METRICS_PORT'] as const;
type ProcessName = 'worker' | 'gateway' | 'temporal' | 'postgres';
const PROCESSES: readonly ProcessName[] = ['worker', 'gateway', 'temporal', 'postgres'];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      turns: { type: 'string', default: '30' },
      concurrency: { type: 'string', default: '10' },
      chunks: { type: 'string', default: '20' },
      /** Which stacks, in which order (`metrics,off` to see whether the order moves the figures). */
      modes: { type: 'string', default: 'off,metrics' },
    },
  });
  const counts = {
    runs: Number(values.runs),
    turns: Number(values.turns),
    concurrency: Number(values.concurrency),
    chunks: Number(values.chunks),
  };
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // installed already
  }
  const log = (line: string) => console.log(line);
  // The warm-up's first starts wait for the just-spawned worker (it bundles its workflows first).
  process.env['GATEWAY_START_TIMEOUT_MS'] ??= '120000';
  const results: Record<string, Record<ProcessName | 'total', number[]>> = {};
  const modes = values.modes.split(',').map((m) => (m === 'off' ? 'off' : m === 'metrics' ? 'metrics' : undefined));
  if (modes.some((m) => m === undefined)) throw new Error(`--modes takes off and metrics, not ${values.modes}`);
  for (const mode of modes as ('off' | 'metrics')[]) {
    const ports: Partial<Record<(typeof METRICS_VARIABLES)[number], number>> = {};
    for (const name of METRICS_VARIABLES) {
      if (mode === 'off') delete process.env[name];
      else process.env[name] = String((ports[name] = await freePort()));
    }
    const stack = await startStack(log, { turnflowOnly: true });
    try {
      const gateway = gatewaySystem(stack);
      await warmUp(stack, { turnflow_gateway: gateway }, log);
      const perRun: Record<ProcessName | 'total', number[]> = {
        worker: [],
        gateway: [],
        temporal: [],
        postgres: [],
        total: [],
      };
      for (let run = 0; run < counts.runs; run++) {
        const cpu = await cpuPerTurn(stack, `${mode}-${run}`, counts, async () => {
          // A scrape of each endpoint, as Prometheus would do every 15 s or so.
          for (const port of Object.values(ports)) await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        });
        for (const name of PROCESSES) perRun[name].push(cpu[name]);
        perRun.total.push(
          round(
            PROCESSES.reduce((sum, name) => sum + cpu[name], 0),
            1,
          ),
        );
        log(`bench: ${mode} run ${run + 1}: ${JSON.stringify(cpu)} ms/turn`);
      }
      results[mode] = perRun;
    } finally {
      await stack.close();
    }
  }
  console.log("\nCPU ms per turn (median of runs; each run's figures in brackets)");
  console.log(['mode', ...PROCESSES, 'total'].map((h) => h.padEnd(28)).join(''));
  for (const [mode, perRun] of Object.entries(results)) {
    const cell = (values: number[]) => `${round(median(values), 1)} [${values.join(', ')}]`;
    console.log(
      [mode, ...[...PROCESSES, 'total' as const].map((p) => cell(perRun[p]))].map((c) => c.padEnd(28)).join(''),
    );
  }
  console.log(
    `(${counts.runs} runs of ${counts.turns} turns, ${counts.concurrency} at once, ${counts.chunks} chunks each)`,
  );
}

/** CPU milliseconds per turn of each process over `turns` turns through the gateway (like the bench's cpu phase). */
async function cpuPerTurn(
  stack: BenchStack,
  prefix: string,
  counts: { turns: number; concurrency: number; chunks: number },
  scrape: () => Promise<void>,
): Promise<Record<ProcessName, number>> {
  const gateway = gatewaySystem(stack);
  const snapshot = async () =>
    Object.fromEntries(
      await Promise.all(PROCESSES.map(async (p) => [p, await treeCpuMs(stack.pids[p])] as const)),
    ) as Record<ProcessName, number>;
  const keys = Array.from({ length: counts.turns }, (_, i) => `obs-${prefix}-${i}`);
  for (const key of keys) stack.model.plan(key, { chunks: counts.chunks, delayMs: 20 });
  const before = await snapshot();
  let next = 0;
  const records: TurnRecord[] = [];
  await Promise.all(
    Array.from({ length: counts.concurrency }, async () => {
      while (next < keys.length) records.push(...(await gateway.run([keys[next++]!], { sequential: true })));
    }),
  );
  await Promise.all(
    records.flatMap((r) => (r.workflowId ? [stack.temporal.workflow.getHandle(r.workflowId).result()] : [])),
  );
  await scrape();
  await sleep(500); // the last completions' writes and workflow tasks
  const after = await snapshot();
  stack.model.clear();
  return Object.fromEntries(PROCESSES.map((p) => [p, round((after[p] - before[p]) / keys.length, 1)])) as Record<
    ProcessName,
    number
  >;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
