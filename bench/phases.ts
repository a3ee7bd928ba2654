import { setTimeout as sleep } from 'node:timers/promises';
import { installRowCounter } from './db-rows';
import { deltaLatencies, durations, lostChunks, peakStreaming, startToModel, ttftOverheads } from './metrics';
import { rssMb, treeCpuMs } from './proc';
import { APP_NAMES, type BenchStack } from './stack';
import { median, round, summarize, type Percentiles } from './stats';
import { CONCURRENCY_KEYS, type BenchResults, type StreamSystem } from './results';
import type { System, TurnOptions, TurnRecord } from './systems/types';

/** How much each phase runs. */
export interface Counts {
  /** Turns of the c1 row (one after another). */
  c1Turns: number;
  chunks: number;
  pacingMs: number;
  hopTurns: number;
  hops: number;
  dbTurns: number;
  throughputTurns: number;
  throughputConcurrency: number;
  cpuTurns: number;
  cpuConcurrency: number;
}

export const FULL: Counts = {
  // The c1 row also gives the TTFT overhead and the gateway's POST → model: a p50 needs more than a handful.
  c1Turns: 11,
  chunks: 100,
  pacingMs: 20,
  hopTurns: 10,
  hops: 3,
  dbTurns: 10,
  throughputTurns: 100,
  throughputConcurrency: 50,
  cpuTurns: 30,
  cpuConcurrency: 10,
};

export const QUICK: Counts = {
  c1Turns: 11,
  chunks: 20,
  pacingMs: 20,
  hopTurns: 7,
  hops: 3,
  dbTurns: 3,
  throughputTurns: 30,
  throughputConcurrency: 30,
  cpuTurns: 6,
  cpuConcurrency: 10,
};

const SHORT: Record<StreamSystem, string> = {
  turnflow: 'tf',
  turnflow_gateway: 'gw',
  direct: 'di',
  workflow_streams: 'ws',
};

type Log = (line: string) => void;
type Systems = Record<StreamSystem, System>;

/** Runs `keys` on `system` with the model planned for them; returns what the callers saw. */
async function drive(
  stack: BenchStack,
  system: System,
  keys: string[],
  plan: { chunks: number; delayMs: number; toolHops?: number },
  opts: { sequential: boolean } & TurnOptions,
): Promise<TurnRecord[]> {
  for (const key of keys) stack.model.plan(key, plan);
  return system.run(keys, opts);
}

const keysFor = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/** One short turn per system, so no measured turn pays for a cold worker or a first connection. */
export async function warmUp(stack: BenchStack, systems: Partial<Systems>, log: Log): Promise<void> {
  for (const [name, system] of Object.entries(systems) as [StreamSystem, System][]) {
    const t0 = performance.now();
    // Ten at once, so the JIT of every process on the path has seen the hot loops before anything is timed.
    await drive(stack, system, keysFor(`warm-${SHORT[name]}`, 10), { chunks: 20, delayMs: 5 }, { sequential: false });
    log(`bench: ${name} warm (${Math.round(performance.now() - t0)} ms)`);
  }
  stack.model.clear();
}

/** `delta_latency_ms`, `ttft_overhead_ms`, the gateway's POST → model, and at c200 RSS, connections, start rate. */
export async function streamingPhases(
  stack: BenchStack,
  systems: Systems,
  counts: Counts,
  log: Log,
): Promise<
  Pick<
    BenchResults,
    | 'delta_latency_ms'
    | 'ttft_overhead_ms'
    | 'gateway_post_to_model_ms'
    | 'worker_rss_mb'
    | 'pg_connections'
    | 'turn_start_rate'
    | 'streams_at_once'
  >
> {
  const latency = {} as Record<StreamSystem, Record<(typeof CONCURRENCY_KEYS)[number], Percentiles>>;
  const ttft = {} as Record<StreamSystem, Percentiles>;
  const atOnce = {} as Record<StreamSystem, Record<(typeof CONCURRENCY_KEYS)[number], number>>;
  let postToModel: Percentiles = { p50: NaN, p99: NaN };
  let rss = { idle: NaN, peak: NaN, per_stream_above_idle: NaN, concurrent_turns: 200 };
  let connections = { peak_total: 0, peak_worker: 0, concurrent_turns: 200 };
  let startRate = { turns_per_s: NaN, started: 200, last_reached_model_s: NaN };
  const plan = { chunks: counts.chunks, delayMs: counts.pacingMs };

  for (const level of CONCURRENCY_KEYS) {
    const n = level === 'c1' ? counts.c1Turns : Number(level.slice(1));
    for (const [name, system] of Object.entries(systems) as [StreamSystem, System][]) {
      const keys = keysFor(`${level}-${SHORT[name]}`, n);
      const sampler = level === 'c200' && name === 'turnflow' ? await startSampler(stack) : undefined;
      const t0 = performance.now();
      const records = await drive(stack, system, keys, plan, { sequential: level === 'c1' });
      const wall = performance.now() - t0;
      const { values, missing } = deltaLatencies(records, stack.model);
      const lost = lostChunks(records, counts.chunks);
      (latency[name] ??= {} as (typeof latency)[StreamSystem])[level] = summarize(values);
      (atOnce[name] ??= {} as (typeof atOnce)[StreamSystem])[level] = peakStreaming(records);
      log(
        `bench: ${name} ${level}: ${values.length} deltas, p50 ${summarize(values).p50} ms, p99 ${summarize(values).p99} ms` +
          ` (wall ${(wall / 1000).toFixed(1)} s${lost || missing ? `, ${lost} chunks not received, ${missing} unmatched` : ''})`,
      );
      if (level === 'c1') {
        ttft[name] = summarize(ttftOverheads(records, stack.model));
        if (name === 'turnflow_gateway') postToModel = summarize(startToModel(records, stack.model));
      }
      if (sampler) {
        const samples = await sampler.stop();
        rss = {
          idle: round(samples.idleRss),
          peak: round(samples.peakRss),
          per_stream_above_idle: round((samples.peakRss - samples.idleRss) / n, 3),
          concurrent_turns: n,
        };
        connections = { peak_total: samples.peakTotal, peak_worker: samples.peakWorker, concurrent_turns: n };
        const burst = Math.min(...records.map((r) => r.startAt));
        const arrivals = keys.map((k) => stack.model.firstRequestAt.get(k)).filter((t): t is number => t !== undefined);
        const lastS = (Math.max(...arrivals) - burst) / 1000;
        startRate = { turns_per_s: round(arrivals.length / lastS), started: n, last_reached_model_s: round(lastS) };
      }
      stack.model.clear();
    }
  }
  return {
    delta_latency_ms: latency,
    streams_at_once: atOnce,
    ttft_overhead_ms: ttft,
    gateway_post_to_model_ms: { turnflow_gateway: postToModel },
    worker_rss_mb: { turnflow: rss },
    pg_connections: { turnflow: connections },
    turn_start_rate: { turnflow: startRate },
  };
}

/** Samples the worker's RSS and the app database's connections (by `application_name`) every 200 ms. */
async function startSampler(stack: BenchStack) {
  const idleRss = await rssMb(stack.pids.worker);
  let peakRss = idleRss;
  let peakTotal = 0;
  let peakWorker = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peakRss = Math.max(peakRss, await rssMb(stack.pids.worker));
      const { rows } = await stack.pool.query<{ app: string; n: string }>(
        `SELECT application_name AS app, count(*) AS n FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY application_name`,
      );
      const total = rows.filter((r) => r.app !== APP_NAMES.bench).reduce((s, r) => s + Number(r.n), 0);
      peakTotal = Math.max(peakTotal, total);
      peakWorker = Math.max(peakWorker, Number(rows.find((r) => r.app === APP_NAMES.worker)?.n ?? 0));
      await sleep(200);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { idleRss, peakRss, peakTotal, peakWorker };
    },
  };
}

/** `hop_overhead_ms`: zero-latency turns with `hops` tool hops against ones with none, one at a time. */
export async function hopPhase(stack: BenchStack, turnflow: System, counts: Counts, log: Log) {
  const base = durations(
    await drive(stack, turnflow, keysFor('hop0', counts.hopTurns), { chunks: 5, delayMs: 0 }, { sequential: true }),
  );
  const withHops = durations(
    await drive(
      stack,
      turnflow,
      keysFor(`hop${counts.hops}`, counts.hopTurns),
      { chunks: 5, delayMs: 0, toolHops: counts.hops },
      { sequential: true, tools: ['calculate'] },
    ),
  );
  stack.model.clear();
  const baseline = median(base);
  const perHop = withHops.map((d) => (d - baseline) / counts.hops);
  log(`bench: turn without tools ${round(baseline)} ms; with ${counts.hops} hops ${round(median(withHops))} ms`);
  return { hop_overhead_ms: { turnflow: summarize(perHop) } };
}

/** `history_events`: one turn of 100, 1,000 and 10,000 tokens on each durable system; Temporal's history length. */
export async function historyPhase(stack: BenchStack, systems: Pick<Systems, 'turnflow' | 'workflow_streams'>) {
  const out = {} as BenchResults['history_events'];
  for (const name of ['turnflow', 'workflow_streams'] as const) {
    const counts = {} as BenchResults['history_events']['turnflow'];
    for (const tokens of [100, 1_000, 10_000]) {
      const [record] = await drive(
        stack,
        systems[name],
        [`hist-${SHORT[name]}-${tokens}`],
        { chunks: tokens, delayMs: 0 },
        {
          sequential: true,
        },
      );
      const handle = stack.temporal.workflow.getHandle(record!.workflowId!);
      await handle.result();
      const history = await handle.fetchHistory();
      counts[`t${tokens}` as keyof typeof counts] = history.events?.length ?? 0;
    }
    out[name] = counts;
    stack.model.clear();
  }
  return { history_events: out };
}

/** `db_rows_per_turn`: rows written per turn at the default persistence and with `persistDeltas: false`. */
export async function dbRowsPhase(stack: BenchStack, turnflow: System, counts: Counts) {
  const counter = await installRowCounter(stack.pool);
  const perTurn = async (prefix: string, opts: TurnOptions) => {
    await counter.reset();
    const keys = keysFor(prefix, counts.dbTurns);
    const records = await drive(
      stack,
      turnflow,
      keys,
      { chunks: counts.chunks, delayMs: counts.pacingMs },
      { sequential: false, ...opts },
    );
    // The turn's last writes (completion) may land just after its `done` event.
    await workflowsDone(stack, records);
    const totals = await counter.totals();
    return {
      inserted: round(totals.inserted / keys.length, 1),
      updated: round(totals.updated / keys.length, 1),
      deleted: round(totals.deleted / keys.length, 1),
      write_statements: round(totals.statements / keys.length, 1),
    };
  };
  try {
    const byDefault = await perTurn('rows-default', {});
    const off = await perTurn('rows-off', { persistence: { persistDeltas: false } });
    return { db_rows_per_turn: { turnflow: { default: byDefault, persistence_off: off } } };
  } finally {
    await counter.uninstall();
    stack.model.clear();
  }
}

/** `throughput`: zero-latency turns, `throughputConcurrency` in flight, until `throughputTurns` are done. */
export async function throughputPhase(stack: BenchStack, turnflow: System, counts: Counts) {
  const keys = keysFor('tput', counts.throughputTurns);
  for (const key of keys) stack.model.plan(key, { chunks: counts.chunks, delayMs: 0 });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: counts.throughputConcurrency }, async () => {
      while (next < keys.length) await turnflow.run([keys[next++]!], { sequential: true });
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  stack.model.clear();
  return {
    throughput: {
      turnflow: {
        turns_per_s: round(keys.length / seconds),
        tokens_per_s: round((keys.length * counts.chunks) / seconds),
        concurrency: counts.throughputConcurrency,
      },
    },
  };
}

/** `cpu_ms_per_turn`: /proc CPU time of each process of the stack over turns through the gateway. */
export async function cpuPhase(stack: BenchStack, gateway: System, counts: Counts) {
  const pids = stack.pids;
  const snapshot = async () => ({
    worker: await treeCpuMs(pids.worker),
    gateway: await treeCpuMs(pids.gateway),
    temporal: await treeCpuMs(pids.temporal),
    postgres: await treeCpuMs(pids.postgres),
  });
  const keys = keysFor('cpu', counts.cpuTurns);
  for (const key of keys) stack.model.plan(key, { chunks: counts.chunks, delayMs: counts.pacingMs });
  const before = await snapshot();
  let next = 0;
  const records: TurnRecord[] = [];
  await Promise.all(
    Array.from({ length: counts.cpuConcurrency }, async () => {
      while (next < keys.length) records.push(...(await gateway.run([keys[next++]!], { sequential: true })));
    }),
  );
  await workflowsDone(stack, records);
  await sleep(500); // let the last completions' writes and workflow tasks finish
  const after = await snapshot();
  stack.model.clear();
  const per = (k: keyof typeof before) => round((after[k] - before[k]) / keys.length, 1);
  const cpu = { worker: per('worker'), gateway: per('gateway'), temporal: per('temporal'), postgres: per('postgres') };
  return {
    cpu_ms_per_turn: { turnflow: { ...cpu, total: round(cpu.worker + cpu.gateway + cpu.temporal + cpu.postgres, 1) } },
  };
}

/** Waits until the workflow of every record has closed. */
async function workflowsDone(stack: BenchStack, records: readonly TurnRecord[]): Promise<void> {
  const ids = records.flatMap((r) => (r.workflowId ? [r.workflowId] : []));
  await Promise.all(ids.map((id) => stack.temporal.workflow.getHandle(id).result()));
}
