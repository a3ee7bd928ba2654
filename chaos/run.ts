import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import pg from 'pg';
import { migrate } from '../db';
import {
  createDatabase,
  databaseUrlFor,
  freePort,
  PROJECT_ROOT,
  restartableDevServer,
  throwawayPostgres,
  waitForPort,
} from '../dev';
import { hashToken } from '../gateway/tenants';
import { startScriptedLlm, type ChunkSentInfo } from '../scripted-llm';
import { WORKFLOWS_PATH } from '../worker/create-worker';
import { checkInvariants, type Verdict } from './check';
import { runClient, type ClientOutcome } from './client';
import { startControlServer, type ControlReport } from './control';
import { chaosModel, type ServedRequest } from './model';
import { KILL_PHASES, planTurn, type KillPhase, type TurnPlan } from './plan';
import { Rng } from './rng';
import { Proc } from './proc';

/** Options of {@link runChaos}. */
export interface ChaosOptions {
  /** @default 100 */
  turns: number;
  /** @default 1 */
  seed: number;
  /** Turns in flight at once. @default 8 */
  concurrency: number;
  /** Progress lines. */
  log: (line: string) => void;
  /** Aborting it ends the run early: every process it started is stopped and the run throws. */
  signal?: AbortSignal;
}

/** What a chaos run found. */
export interface ChaosSummary extends Verdict {
  turns: number;
  kills: number;
  killsByPhase: Record<KillPhase, number>;
  faults: number;
  /** From a kill to the next text delta a client of an interrupted turn received (ms). */
  recovery: { samples: number; p50: number; p90: number };
  /** Processes of ours that exited without being killed by the supervisor. */
  unexpectedExits: Record<string, number>;
  replay: { histories: number; failures: string[] };
  outages: string[];
  wallMs: number;
  /** Where the logs of every process are (kept when the run fails). */
  dir: string;
}

const TENANT_TOKEN = 'chaos-token';
const WORKERS = 2;
const WORKFLOW_ID = /chaos-\d+-(\d+)/;

interface Kill {
  at: number;
  phase: KillPhase;
  turns: number[];
}

/** Runs `turns` turns through the real stack while killing workers, restarting Postgres and Temporal, and faulting. */
export async function runChaos(opts: ChaosOptions): Promise<ChaosSummary> {
  const started = Date.now();
  const log = opts.log;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed by this process.
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'turnflow-chaos-'));
  // The Postgres cluster inside it runs as the postgres OS user, which must be able to reach it.
  await chmod(dir, 0o755);
  log(`chaos: seed ${opts.seed}, ${opts.turns} turns, ${opts.concurrency} at once; logs in ${dir}`);
  const cleanups: (() => Promise<void>)[] = [];
  const plans: TurnPlan[] = Array.from({ length: opts.turns }, (_, i) => planTurn(opts.seed, i));
  const rng = new Rng(opts.seed, 99);
  let stopping = false;
  const onAbort = () => {
    stopping = true;
  };
  opts.signal?.addEventListener('abort', onAbort);

  try {
    // The stack: Postgres, Temporal, the model, the gateway and two workers, each of them ours to break.
    const [postgres, temporal, bundle] = await Promise.all([
      throwawayPostgres({ parent: dir }),
      restartableDevServer({ parent: dir }),
      bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') }),
    ]);
    cleanups.push(
      () => postgres.stop().catch(() => undefined),
      () => temporal.stop(),
    );
    const bundlePath = path.join(dir, 'workflows.js');
    await writeFile(bundlePath, bundle.code);
    await createDatabase(postgres.url, 'turnflow');
    const databaseUrl = databaseUrlFor(postgres.url, 'turnflow');
    await migrate(databaseUrl);
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
    pool.on('error', () => undefined); // Postgres restarts under it on purpose
    cleanups.push(() => pool.end());
    await pool.query(`CREATE TABLE chaos_tool_runs (
      idempotency_key text NOT NULL, turn_id text NOT NULL, hop integer NOT NULL, tool_call_id text NOT NULL,
      pid integer NOT NULL, executed_at timestamptz NOT NULL DEFAULT clock_timestamp())`);

    const served = new Map<number, ServedRequest>();
    const model = chaosModel(served);
    const llm = await startScriptedLlm({ onChunkSent: (info) => onChunk(info) });
    llm.respond(model.responder);
    cleanups.push(() => llm.close());

    // Who runs what, from the workers' reports: pid → activity key → turn index and activity.
    const inflight = new Map<number, Map<string, { index: number; activity: string }>>();
    const fired = new Set<number>();
    const killed = new Set<number>();
    const kills: Kill[] = [];
    const unexpectedExits: Record<string, number> = { worker: 0, gateway: 0 };
    const control = await startControlServer((report) => onReport(report));
    cleanups.push(() => control.close());

    const appEnv: NodeJS.ProcessEnv = {
      TEMPORAL_ADDRESS: temporal.address,
      DATABASE_URL: databaseUrl,
      OPENAI_BASE_URL: llm.baseURL,
      OPENAI_API_KEY: 'chaos',
      OPENAI_MODEL: 'chaos-model',
      TURNFLOW_LLM_IDLE_TIMEOUT_MS: '1500',
      LOG_LEVEL: 'warn',
      CHAOS_CONTROL_URL: control.url,
      CHAOS_WORKFLOW_BUNDLE: bundlePath,
    };
    const gatewayPort = await freePort();
    let gateway = startGateway();
    cleanups.push(() => gateway.stop());
    const workers: Proc[] = [];
    for (let slot = 0; slot < WORKERS; slot++) workers.push(startWorker(slot));
    cleanups.push(async () => {
      stopping = true;
      await Promise.all(workers.map((w) => w.stop()));
    });
    await waitForPort(gatewayPort, 'the gateway', 60_000);

    // The turns, `concurrency` at a time; the outages strike when a third and two thirds of them are done.
    const outcomes: ClientOutcome[] = [];
    const outages: string[] = [];
    let done = 0;
    let outage: Promise<void> = Promise.resolve();
    const onTurnDone = () => {
      done += 1;
      if (done === Math.ceil(opts.turns / 3)) outage = outage.then(() => restart('postgres', 2_000, postgres));
      if (done === Math.ceil((2 * opts.turns) / 3)) outage = outage.then(() => restart('temporal', 3_000, temporal));
    };
    const randomKiller = (async () => {
      while (!stopping) {
        await sleep(rng.int(6_000, 12_000));
        const up = workers.filter((w) => w.running);
        if (stopping || up.length < WORKERS) continue;
        kill(rng.pick(up).pid, 'random');
      }
    })();
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(opts.concurrency, opts.turns) }, async () => {
        while (next < plans.length && !opts.signal?.aborted) {
          const plan = plans[next++]!;
          const outcome = await runClient(plan, {
            gatewayUrl: `http://127.0.0.1:${gatewayPort}`,
            token: TENANT_TOKEN,
            deadlineMs: 300_000,
            silenceMs: 5_000,
            ...(opts.signal ? { signal: opts.signal } : {}),
          });
          outcomes[plan.index] = outcome;
          log(`chaos: turn ${plan.index} ended (${outcome.terminal ?? 'no end'}, ${outcome.resumes} resumes)`);
          onTurnDone();
        }
      }),
    );
    await outage;
    opts.signal?.throwIfAborted();
    stopping = true;
    await randomKiller;
    log(`chaos: all ${opts.turns} turns ended after ${Math.round((Date.now() - started) / 1000)} s; checking`);

    const verdict = await checkInvariants(pool, plans, outcomes);
    const replay = await replayHistories(temporal.address, bundlePath, outcomes);
    const killsByPhase = Object.fromEntries(KILL_PHASES.map((p) => [p, kills.filter((k) => k.phase === p).length]));
    return {
      ...verdict,
      turns: opts.turns,
      kills: kills.length,
      killsByPhase: killsByPhase as Record<KillPhase, number>,
      faults: model.faults(),
      recovery: recoveryTimes(kills, outcomes),
      unexpectedExits: { ...unexpectedExits },
      replay,
      outages,
      wallMs: Date.now() - started,
      dir,
    };

    function startGateway(): Proc {
      const proc = new Proc(
        'gateway',
        process.execPath,
        ['--import', 'tsx', path.join(PROJECT_ROOT, 'gateway', 'main.ts')],
        {
          cwd: PROJECT_ROOT,
          env: {
            ...appEnv,
            GATEWAY_PORT: String(gatewayPort),
            GATEWAY_KEEPALIVE_MS: '1000',
            TURNFLOW_API_TOKENS: `chaos:${hashToken(TENANT_TOKEN)}`,
          },
          logFile: path.join(dir, 'gateway.log'),
        },
      );
      void proc.exited.then(() => {
        if (stopping) return;
        unexpectedExits['gateway']! += 1;
        gateway = startGateway();
      });
      return proc;
    }

    function startWorker(slot: number): Proc {
      const proc = new Proc(
        `worker-${slot}`,
        process.execPath,
        ['--import', 'tsx', path.join(__dirname, 'worker.ts')],
        {
          cwd: PROJECT_ROOT,
          env: appEnv,
          logFile: path.join(dir, `worker-${slot}.log`),
        },
      );
      void proc.exited.then(async () => {
        inflight.delete(proc.pid);
        // Exits while the run stops its stack are asked for; any other that was not our SIGKILL is a crash.
        if (stopping) return;
        if (!killed.has(proc.pid)) unexpectedExits['worker']! += 1;
        await sleep(rng.int(200, 800));
        if (!stopping) workers[slot] = startWorker(slot);
      });
      return proc;
    }

    function onReport(report: ControlReport & { pid: number }): void {
      const index = indexOf(report.turnId);
      if (index === undefined) return;
      const plan = plans[index];
      if (report.kind === 'activity-start' || report.kind === 'activity-end') {
        let running = inflight.get(report.pid);
        if (!running) inflight.set(report.pid, (running = new Map<string, { index: number; activity: string }>()));
        const key = `${report.activity}:${report.turnId}:${report.hop}:${report.attempt}`;
        if (report.kind === 'activity-end') running.delete(key);
        else {
          running.set(key, { index, activity: report.activity });
          if (plan?.kill?.phase === 'completion' && report.activity === 'completeTurn' && aim(index)) {
            setTimeout(() => kill(report.pid, 'completion'), plan.kill.delayMs);
          }
        }
        return;
      }
      const kind = plan?.kill?.phase;
      if (kind === 'tool' && report.kind === 'tool-start' && plan?.kill?.hop === report.hop && aim(index)) {
        // The tool sleeps 150 ms before its side effect: this lands mid-tool, before the effect.
        setTimeout(() => kill(report.pid, 'tool'), 50);
      } else if (
        kind === 'tool-effect' &&
        report.kind === 'tool-effect' &&
        plan?.kill?.hop === report.hop &&
        aim(index)
      ) {
        // The tool waits for this answer after its effect: the kill lands before its result is stored.
        kill(report.pid, 'tool-effect');
      }
    }

    function onChunk(info: ChunkSentInfo): void {
      const request = served.get(info.requestIndex);
      const plan = request && plans[request.index];
      const aimed = plan?.kill;
      if (aimed?.phase !== 'stream' || aimed.hop !== request?.hop || info.chunkIndex + 1 < aimed.afterChunks) return;
      for (const [pid, running] of inflight) {
        for (const { index, activity } of running.values()) {
          if (index === request.index && activity === 'streamCompletion' && aim(index)) kill(pid, 'stream');
        }
      }
    }

    /** Claims turn `index`'s one planned kill. */
    function aim(index: number): boolean {
      if (fired.has(index) || stopping) return false;
      fired.add(index);
      return true;
    }

    function kill(pid: number, phase: KillPhase): void {
      const proc = workers.find((w) => w.pid === pid && w.running);
      if (!proc) return;
      const turns = [...new Set([...(inflight.get(pid)?.values() ?? [])].map((r) => r.index))];
      killed.add(pid);
      proc.child.kill('SIGKILL');
      kills.push({ at: Date.now(), phase, turns });
    }

    async function restart(what: string, downMs: number, server: { stop(): Promise<void>; start(): Promise<void> }) {
      log(`chaos: restarting ${what} (down ${downMs / 1000} s)`);
      const t0 = Date.now();
      try {
        await server.stop();
        await sleep(downMs);
        await server.start();
      } catch (err: unknown) {
        outages.push(`${what} restart failed: ${String(err)}`);
        throw err;
      }
      log(`chaos: ${what} is back`);
      outages.push(`${what} down ${Math.round((Date.now() - t0) / 100) / 10} s`);
    }
  } finally {
    stopping = true;
    opts.signal?.removeEventListener('abort', onAbort);
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }

  function indexOf(turnId: string): number | undefined {
    const match = WORKFLOW_ID.exec(turnId);
    return match ? Number(match[1]) : undefined;
  }
}

/** Replays every turn's history against the workflow bundle: a determinism guard over everything the run did. */
async function replayHistories(
  address: string,
  bundlePath: string,
  outcomes: ClientOutcome[],
): Promise<{ histories: number; failures: string[] }> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection });
    const ids = outcomes.map((o) => o.turnId).filter((id): id is string => id !== undefined);
    const histories = await Promise.all(
      ids.map(async (workflowId) => ({
        workflowId,
        history: await client.workflow.getHandle(workflowId).fetchHistory(),
      })),
    );
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: bundlePath } }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    return { histories: histories.length, failures };
  } finally {
    await connection.close();
  }
}

function recoveryTimes(kills: Kill[], outcomes: ClientOutcome[]): ChaosSummary['recovery'] {
  const samples: number[] = [];
  for (const k of kills) {
    for (const index of k.turns) {
      const next = outcomes[index]?.textTimes.find((t) => t > k.at);
      if (next !== undefined) samples.push(next - k.at);
    }
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0;
  return { samples: samples.length, p50: at(0.5), p90: at(0.9) };
}

/** Removes the run's folder (logs, clusters); kept when a run fails so it can be read. */
export async function removeRunDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
