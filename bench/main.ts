/**
 * `npm run bench [-- --quick]`: turnflow, the direct floor and Temporal's workflow-streams side by side, on one
 * machine, against one scripted model with fixed pacing that timestamps every chunk it sends. Writes
 * bench/results.json, bench/chart.png and the generated section of BENCHMARKS.md, and prints the figures.
 *
 * `npm run bench -- --start-path`: only the start-path section (turnflow alone: `start_path_ms`,
 * `temporal_actions_per_turn`, `burst_headers_ms`, `cpu_ms_per_turn` over 20 gateway turns, and `temporal_floor_ms`:
 * a bare workflow's start → its first activity, the floor under it all), in about a minute; writes
 * bench/start-path.json (or `--out`).
 */
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { devServerDynamicConfigArgs, PROJECT_ROOT } from '../dev';
import { chartPng } from './chart';
import {
  cpuPhase,
  dbRowsPhase,
  FULL,
  historyPhase,
  hopPhase,
  QUICK,
  streamingPhases,
  throughputPhase,
  warmUp,
} from './phases';
import { cpuCount, rssMb } from './proc';
import { benchmarksSection, replaceSection, startPathText, textTable } from './report';
import { parseResults, StartPathResults } from './results';
import { temporalFloor } from './floor/floor';
import { startPathPhases, type StartPathCounts } from './start-path';
import { startStack, temporalFlags } from './stack';
import { directSystem } from './systems/direct';
import { gatewaySystem } from './systems/gateway';
import { turnflowSystem } from './systems/turnflow';
import { workflowStreamsSystem } from './systems/workflow-streams';

const RESULTS_FILE = path.join(PROJECT_ROOT, 'bench', 'results.json');
const CHART_FILE = path.join(PROJECT_ROOT, 'bench', 'chart.png');
const BENCHMARKS_FILE = path.join(PROJECT_ROOT, 'BENCHMARKS.md');
const START_PATH_FILE = path.join(PROJECT_ROOT, 'bench', 'start-path.json');

/** The start-path section's counts: in a full or quick run, and alone (`--start-path`, more c1 turns). */
const START_PATH: Record<'full' | 'quick' | 'alone', StartPathCounts> = {
  full: { turns: 10, actionTurns: 2, hops: 3, burst: 100 },
  quick: { turns: 5, actionTurns: 1, hops: 3, burst: 100 },
  alone: { turns: 10, actionTurns: 2, hops: 3, burst: 100 },
};

function commitOf(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'start-path': { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  if (values['start-path'] === true) return startPathOnly(values.out ?? START_PATH_FILE);
  const quick = values.quick === true;
  const counts = quick ? QUICK : FULL;
  const log = (line: string) => console.log(line);
  const started = new Date();
  const commit = commitOf(); // now: the tree may move while a long run goes on
  const t0 = performance.now();
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // installed already
  }
  const stack = await startStack(log);
  const turnflow = turnflowSystem(stack);
  // A turn that never ends would hang the run: past the limit the stack is stopped and the run fails.
  const limitMs = (quick ? 15 : 45) * 60_000;
  const watchdog = setTimeout(() => {
    console.error(`bench: not done after ${limitMs / 60_000} minutes; stopping`);
    void stack.close().finally(() => process.exit(1));
  }, limitMs);
  watchdog.unref();
  try {
    const systems = {
      turnflow,
      turnflow_gateway: gatewaySystem(stack),
      direct: directSystem(stack),
      workflow_streams: workflowStreamsSystem(stack),
    };
    await warmUp(stack, systems, log);
    const streaming = await streamingPhases(stack, systems, counts, log);
    log('bench: start path');
    const startPath = await startPathPhases(stack, systems, START_PATH[quick ? 'quick' : 'full'], log);
    log('bench: tool hops');
    const hops = await hopPhase(stack, turnflow, counts, log);
    log('bench: history per turn');
    const history = await historyPhase(stack, systems);
    log('bench: rows per turn');
    const rows = await dbRowsPhase(stack, turnflow, counts);
    log('bench: throughput');
    const throughput = await throughputPhase(stack, turnflow, counts);
    log('bench: CPU per turn');
    const cpu = await cpuPhase(stack, systems.turnflow_gateway, counts);

    const results = parseResults({
      meta: {
        mode: quick ? 'quick' : 'full',
        startedAt: started.toISOString(),
        wallSeconds: Math.round((performance.now() - t0) / 1000),
        commit,
        cpus: cpuCount(),
        node: process.versions.node,
        chunksPerTurn: counts.chunks,
        chunkPacingMs: counts.pacingMs,
        // Every flag the dev server ran with: the project's own (dev/temporal-cli.ts) and the bench's extra ones.
        temporalFlags: [...devServerDynamicConfigArgs(), ...temporalFlags()],
        note:
          'One run on a shared machine (other jobs may have been running): read the figures as a range, and compare ' +
          'systems within one run.',
      },
      ...streaming,
      ...hops,
      ...history,
      ...rows,
      ...throughput,
      ...cpu,
      ...startPath,
    });
    await writeFile(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
    await writeFile(CHART_FILE, await chartPng(results));
    const doc = await readFile(BENCHMARKS_FILE, 'utf8').catch(() => '# Benchmarks\n');
    const command = quick ? 'npm run bench -- --quick' : 'npm run bench';
    await writeFile(BENCHMARKS_FILE, replaceSection(doc, benchmarksSection(results, command, 'bench/chart.png')));
    console.log(`\n${textTable(results)}\n`);
    console.log(`bench: wrote ${path.relative(PROJECT_ROOT, RESULTS_FILE)}, bench/chart.png, BENCHMARKS.md`);
  } finally {
    clearTimeout(watchdog);
    await turnflow.close();
    await stack.close();
  }
}

/** `--start-path`: the stack without the comparison systems, a warm-up, then the start-path section only. */
async function startPathOnly(out: string): Promise<void> {
  const log = (line: string) => console.log(line);
  const t0 = performance.now();
  const loadAtStart = os.loadavg();
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // installed already
  }
  const stack = await startStack(log, { turnflowOnly: true });
  const turnflow = turnflowSystem(stack);
  const watchdog = setTimeout(() => {
    console.error('bench: start path not done after 10 minutes; stopping');
    void stack.close().finally(() => process.exit(1));
  }, 10 * 60_000);
  watchdog.unref();
  try {
    const systems = { turnflow, turnflow_gateway: gatewaySystem(stack) };
    await warmUp(stack, systems, log);
    const results = StartPathResults.parse(await startPathPhases(stack, systems, START_PATH.alone, log));
    // CPU per turn too (as in the full run, with fewer turns): what the start path's workflow tasks cost shows there.
    const { cpu_ms_per_turn: cpu } = await cpuPhase(stack, systems.turnflow_gateway, { ...QUICK, cpuTurns: 20 });
    // The worker's memory once all that ran (about 190 conversations and turns, most still in its workflow cache).
    const workerRssMb = await rssMb(stack.pids.worker);
    // The gateway's too: with GATEWAY_WORKER=true it hosts a worker that runs most turns.
    const gatewayRssMb = await rssMb(stack.pids.gateway);
    // What Temporal alone costs on the same server: the floor under every phase above but the caller's own work.
    const floor = await temporalFloor(stack.temporalAddress, 20);
    const meta = {
      commit: commitOf(),
      at: new Date().toISOString(),
      wallSeconds: Math.round((performance.now() - t0) / 1000),
      env: {
        TURNFLOW_DIRECT_START: process.env['TURNFLOW_DIRECT_START'] ?? 'true',
        GATEWAY_WORKER: process.env['GATEWAY_WORKER'] ?? 'false',
      },
      loadAverage: { atStart: loadAtStart, atEnd: os.loadavg() },
    };
    const rss = { worker_rss_mb_after: workerRssMb, gateway_rss_mb_after: gatewayRssMb };
    await writeFile(
      out,
      `${JSON.stringify({ meta, ...results, cpu_ms_per_turn: cpu, ...rss, temporal_floor_ms: floor }, null, 2)}\n`,
    );
    console.log(`\n${startPathText(results)}\n`);
    const c = cpu.turnflow;
    console.log(
      `CPU ms per turn (20 through the gateway, 10 at once, ${QUICK.chunks} chunks at ${QUICK.pacingMs} ms): ` +
        `worker ${c.worker} / gateway ${c.gateway} / Temporal ${c.temporal} / Postgres ${c.postgres} = ${c.total}\n` +
        `RSS after the run: worker ${workerRssMb} MB, gateway ${gatewayRssMb} MB\n` +
        `Temporal's floor (a bare workflow's start → its first activity running, p50 of ${floor.turns}): ` +
        `${floor.start_to_activity} ms (its first task queued ${floor.first_task_queued} ms, in the worker ` +
        `${floor.first_task_worker} ms, activity started → running ${floor.activity_dispatch} ms), with eager ` +
        `workflow start ${floor.eager_start_to_activity} ms; one tool hop (model activity → tool activity → model ` +
        `activity, p50) ${floor.hop} ms, ${floor.hop_local_tool} ms with the tool a local activity\n`,
    );
    console.log(`bench: wrote ${path.relative(PROJECT_ROOT, out)} (${meta.wallSeconds} s)`);
  } finally {
    clearTimeout(watchdog);
    await turnflow.close();
    await stack.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
