/**
 * The cost of metrics and traces, side by side: the same turns through the gateway on a stack with both off, then
 * with the metrics endpoints on (worker, Temporal SDK and gateway endpoints, each scraped once per run as Prometheus
 * would), with traces on (the worker and the gateway export OTLP to a receiver in this process, which only counts
 * what it gets, so its own cost is not the stack's), and with both (`all`). CPU time per turn of each process of the
 * stack from /proc and the callers' time to first token, per run, and the medians.
 *
 *   npm run --silent bench:observability -- [--runs 3] [--turns 30] [--concurrency 10] [--chunks 20]
 *     [--modes off,metrics,traces,all]
 *
 * It starts its own Postgres cluster and Temporal dev server (like `npm run bench`), so it needs nothing running.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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
const MODES = ['off', 'metrics', 'traces', 'all'] as const;
type Mode = (typeof MODES)[number];

/** An OTLP/HTTP receiver that answers every export at once and counts them (the exporters' cost is measured). */
async function startTraceSink(): Promise<{ endpoint: string; exports: () => number; close(): Promise<void> }> {
  let exports = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      exports++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exports: () => exports,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      turns: { type: 'string', default: '30' },
      concurrency: { type: 'string', default: '10' },
      chunks: { type: 'string', default: '20' },
      /** Which stacks, in which order (`metrics,off` to see whether the order moves the figures). */
      modes: { type: 'string', default: 'off,metrics,traces' },
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
  const results: Record<string, Record<ProcessName | 'total' | 'ttft', number[]>> = {};
  const modes = values.modes.split(',');
  if (!modes.every((m): m is Mode => (MODES as readonly string[]).includes(m))) {
    throw new Error(`--modes takes ${MODES.join(', ')}, not ${values.modes}`);
  }
  for (const mode of modes) {
    const ports: Partial<Record<(typeof METRICS_VARIABLES)[number], number>> = {};
    for (const name of METRICS_VARIABLES) {
      if (mode === 'off' || mode === 'traces') delete process.env[name];
      else process.env[name] = String((ports[name] = await freePort()));
    }
    const sink = mode === 'traces' || mode === 'all' ? await startTraceSink() : undefined;
    if (sink) process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = sink.endpoint;
    else delete process.env['OTEL_EXPORTER_OTLP_ENDPOINT'];
    const stack = await startStack(log, { turnflowOnly: true });
    try {
      const gateway = gatewaySystem(stack);
      await warmUp(stack, { turnflow_gateway: gateway }, log);
      const perRun: Record<ProcessName | 'total' | 'ttft', number[]> = {
        worker: [],
        gateway: [],
        temporal: [],
        postgres: [],
        total: [],
        ttft: [],
      };
      for (let run = 0; run < counts.runs; run++) {
        const cpu = await cpuPerTurn(stack, `${mode}-${run}`, counts, async () => {
          // A scrape of each endpoint, as Prometheus would do every 15 s or so.
          for (const port of Object.values(ports)) await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        });
        for (const name of PROCESSES) perRun[name].push(cpu[name]);
        perRun.ttft.push(cpu.ttft);
        perRun.total.push(
          round(
            PROCESSES.reduce((sum, name) => sum + cpu[name], 0),
            1,
          ),
        );
        log(`bench: ${mode} run ${run + 1}: ${JSON.stringify(cpu)} ms/turn (ttft: median ms)`);
      }
      results[mode] = perRun;
    } finally {
      await stack.close();
      if (sink) {
        log(`bench: ${mode}: the trace receiver got ${sink.exports()} OTLP exports`);
        await sink.close();
      }
    }
  }
  delete process.env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  console.log("\nCPU ms per turn, and the median time to first token in ms (median of runs; each run's in brackets)");
  console.log(['mode', ...PROCESSES, 'total', 'ttft'].map((h) => h.padEnd(28)).join(''));
  for (const [mode, perRun] of Object.entries(results)) {
    const cell = (values: number[]) => `${round(median(values), 1)} [${values.join(', ')}]`;
    console.log(
      [mode, ...[...PROCESSES, 'total' as const, 'ttft' as const].map((p) => cell(perRun[p]))]
        .map((c) => c.padEnd(28))
        .join(''),
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
): Promise<Record<ProcessName | 'ttft', number>> {
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
  const ttfts = records.flatMap((r) => (r.firstDeltaAt === undefined ? [] : [r.firstDeltaAt - r.startAt]));
  return {
    ...(Object.fromEntries(PROCESSES.map((p) => [p, round((after[p] - before[p]) / keys.length, 1)])) as Record<
      ProcessName,
      number
    >),
    ttft: round(median(ttfts), 1),
  };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
