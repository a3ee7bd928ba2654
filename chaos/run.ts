import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import pg from 'pg';
import { migrate } from '../db';
import {
  createDatabase,
  databaseUrlFor,
  DEV_SERVER_DYNAMIC_CONFIG,
  EAGER_ACTIVITIES,
  freePort,
  PROJECT_ROOT,
  restartableDevServer,
  throwawayPostgres,
  waitForPort,
} from '../dev';
import { hashToken } from '../gateway/tenants';
import { startScriptedLlm, type ChunkSentInfo } from '../scripted-llm';
import { testWorkflowBundleFile } from '../dev/test-bundle';
import { WORKFLOWS_PATH } from '../worker/create-worker';
import { checkInvariants, type Verdict } from './check';
import { runClient, type ClientOutcome, type ClientProgress } from './client';
import { startControlServer, type ControlReport } from './control';
import { chaosModel, type ServedRequest } from './model';
import { KILL_PHASES, planRun, type KillPhase, type TurnPlan } from './plan';
import { Rng } from './rng';
import { Proc } from './proc';

/** Options of {@link runChaos}. */
export interface ChaosOptions {
  /** @default 100 */
  turns: number;
  /** @default 1 */
  seed: number;
  /** Conversations in flight at once (each sends its 2-5 messages one after another). @default 8 */
  concurrency: number;
  /**
   * Run the dev server with eager activity dispatch (`system.enableActivityEagerExecution`), as the embedded stack
   * does; off by default, as on a Temporal cluster's default config. @default false
   */
  eager?: boolean;
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
  recovery: Recovery & { byPhase: Partial<Record<KillPhase, Recovery>> };
  /** Processes of ours that exited without being killed by the supervisor. */
  unexpectedExits: Record<string, number>;
  replay: { histories: number; failures: string[] };
  /**
   * Every `WorkflowTaskFailed` event in any history of the run (workflow id, run, cause and message), except the
   * server's own rejections below: a failed workflow task is a bug in workflow code whatever the replay says.
   */
  taskFailures: string[];
  /**
   * `WorkflowTaskFailed` events with cause `UnhandledCommand` / `UnhandledUpdate`: the server refused a task that
   * completed the workflow because a signal or update arrived while it ran, so that the workflow sees it first
   * (Temporal's own mechanism; no workflow code can stop a caller signalling at that moment). Counted, not failed.
   */
  racedCompletions: string[];
  /**
   * `WorkflowTaskTimedOut` events (start-to-close: a worker killed while it held the task), by workflow kind. Not
   * failures: each held its workflow for the task timeout (the server's 10 s default).
   */
  taskTimeouts: { conversation: number; turn: number };
  /** Whether the dev server dispatched activities eagerly. */
  eager: boolean;
  outages: string[];
  wallMs: number;
  /** Where the logs of every process are (kept when the run fails). */
  dir: string;
}

const TENANT_TOKEN = 'chaos-token';
const WORKERS = 2;
const TENANT = 'chaos';
/** A turn id names its message: `turn/chaos/chaos-<seed>-c<conversation>/m<index>`. */
const WORKFLOW_ID = /\/m(\d+)$/;

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
  const eager = opts.eager ?? false;
  const conversations = planRun(opts.seed, opts.turns);
  const plans: TurnPlan[] = conversations.flat();
  log(
    `chaos: seed ${opts.seed}, ${opts.turns} turns in ${conversations.length} conversations, ` +
      `${opts.concurrency} conversations at once, eager activity dispatch ${eager ? 'on' : 'off'}; logs in ${dir}`,
  );
  const cleanups: (() => Promise<void>)[] = [];
  const rng = new Rng(opts.seed, 99);
  let stopping = false;
  const onAbort = () => {
    stopping = true;
  };
  opts.signal?.addEventListener('abort', onAbort);

  try {
    // The stack: Postgres, Temporal, the model, the gateway and two workers, each of them ours to break.
    const testBundle = testWorkflowBundleFile();
    const [postgres, temporal, bundle] = await Promise.all([
      throwawayPostgres({ parent: dir }),
      restartableDevServer({
        parent: dir,
        dynamicConfig: DEV_SERVER_DYNAMIC_CONFIG.filter((v) => eager || !v.startsWith(EAGER_ACTIVITIES)),
      }),
      // Under `npm test` the run's bundle, built once from these same sources (dev/test-bundle.ts).
      testBundle
        ? readFile(testBundle, 'utf8').then((code) => ({ code }))
        : bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') }),
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
    /** The worker that last started a step of turn `index`: the one a `turn-end` kill aims at. */
    const lastWorker = new Map<number, number>();
    const fired = new Set<number | string>();
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
        // Only workers that have taken work: one still booting (slow on a loaded machine) is never killed again
        // before it could do anything, or the run measures kill storms instead of recovery.
        const up = workers.filter((w) => w.running && inflight.has(w.pid));
        if (stopping || up.length < WORKERS) continue;
        kill(rng.pick(up).pid, 'random');
      }
    })();
    let next = 0;
    const clientOpts = {
      gatewayUrl: `http://127.0.0.1:${gatewayPort}`,
      token: TENANT_TOKEN,
      tenant: TENANT,
      deadlineMs: 120_000,
      startDeadlineMs: 60_000,
      silenceMs: 5_000,
      ...(opts.signal ? { signal: opts.signal } : {}),
    };
    await Promise.all(
      Array.from({ length: Math.min(opts.concurrency, conversations.length) }, async () => {
        while (next < conversations.length && !opts.signal?.aborted) await runConversation(conversations[next++]!);
      }),
    );
    await outage;
    opts.signal?.throwIfAborted();
    stopping = true;
    await randomKiller;
    log(`chaos: all ${opts.turns} turns ended after ${Math.round((Date.now() - started) / 1000)} s; checking`);

    const verdict = await checkInvariants(pool, plans, outcomes);
    const { taskFailures, racedCompletions, taskTimeouts, ...replay } = await replayHistories(
      temporal.address,
      bundlePath,
    );
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
      taskFailures,
      racedCompletions,
      taskTimeouts,
      eager,
      outages,
      wallMs: Date.now() - started,
      dir,
    };

    /**
     * Sends a conversation's messages one after another, each when its plan says (see `SendPlan`), while the earlier
     * ones' clients still read their streams: so they are accepted in plan order.
     */
    async function runConversation(messages: TurnPlan[]): Promise<void> {
      const clients: Promise<void>[] = [];
      let previous: Progress | undefined;
      for (const plan of messages) {
        if (opts.signal?.aborted) break;
        if (previous && plan.send) await sendWhen(previous, plan);
        const progress = new Progress();
        clients.push(
          runClient(plan, clientOpts, progress.hooks).then((outcome) => {
            outcomes[plan.index] = outcome;
            progress.end(outcome);
            log(
              `chaos: turn ${plan.index} (${plan.conversationId} ${plan.policy} ${outcome.state ?? 'unanswered'}) ` +
                `ended (${outcome.terminal ?? 'no end'}, ${outcome.resumes} resumes)`,
            );
            onTurnDone();
          }),
        );
        previous = progress;
      }
      await Promise.all(clients);
    }

    async function sendWhen(previous: Progress, plan: TurnPlan): Promise<void> {
      const send = plan.send!;
      if (send.after === 'answered') return previous.answered;
      if (send.after === 'events') return previous.events(send.count);
      const outcome = await previous.ended;
      if (send.kill !== 'none' && outcome.terminal !== undefined && aim(`turn-end:${plan.index}`)) {
        // The worker that ran the previous turn's last step (the conversation may be cached there), or all of them.
        const ran = lastWorker.get(indexOf(outcome.turnId ?? '') ?? -1);
        for (const w of workers) if (w.running && (send.kill === 'both' || w.pid === ran)) kill(w.pid, 'turn-end');
      }
      await sleep(send.delayMs);
    }

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
          lastWorker.set(index, report.pid);
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

    /** Claims turn `index`'s one planned kill (or the one named `index`). */
    function aim(index: number | string): boolean {
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

const { EventType, TimeoutType, WorkflowTaskFailedCause } = temporal.api.enums.v1;
/** Causes under which the server, not workflow code, failed a workflow task (see `racedCompletions`). */
const SERVER_REJECTIONS = new Set<number>([
  WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
  WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_UPDATE,
]);

/**
 * Replays every history of the run against the workflow bundle (every workflow, every run: conversations, their
 * continued-as-new runs and their turns), a determinism guard over everything the run did, and reports every
 * `WorkflowTaskFailed` event any history holds: a workflow task that failed is a bug whatever the replay says.
 */
async function replayHistories(
  address: string,
  bundlePath: string,
): Promise<{
  histories: number;
  failures: string[];
  taskFailures: string[];
  racedCompletions: string[];
  taskTimeouts: { conversation: number; turn: number };
}> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection });
    const histories: { workflowId: string; history: temporal.api.history.v1.IHistory }[] = [];
    const taskFailures: string[] = [];
    const racedCompletions: string[] = [];
    const taskTimeouts = { conversation: 0, turn: 0 };
    for await (const execution of client.workflow.list()) {
      const { workflowId, runId } = execution;
      const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
      // A run continued as new a moment ago may have no workflow task yet (the server holds the first one back when
      // a workflow continues as new in quick succession): it decided nothing, and the SDK's replay worker waits for
      // ever on a history that is only `WorkflowExecutionStarted`.
      if ((history.events ?? []).some((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)) {
        histories.push({ workflowId, history });
      }
      for (const event of history.events ?? []) {
        // Start-to-close only: a sticky queue's schedule-to-start timeout (2 s) is a worker too busy, not one lost.
        if (event.workflowTaskTimedOutEventAttributes?.timeoutType === TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE)
          taskTimeouts[execution.type === 'conversation' ? 'conversation' : 'turn']++;
        const failed = event.workflowTaskFailedEventAttributes;
        if (!failed) continue;
        const cause = temporal.api.enums.v1.WorkflowTaskFailedCause[failed.cause ?? 0] ?? String(failed.cause);
        (SERVER_REJECTIONS.has(failed.cause ?? 0) ? racedCompletions : taskFailures).push(
          `${workflowId} (run ${runId}) event ${String(event.eventId)}: ${cause}: ${failed.failure?.message ?? ''}`,
        );
      }
    }
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: bundlePath } }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    return { histories: histories.length, failures, taskFailures, racedCompletions, taskTimeouts };
  } finally {
    await connection.close();
  }
}

/** What the next message of a conversation may wait for in the one before it. */
class Progress {
  readonly answered: Promise<void>;
  readonly ended: Promise<ClientOutcome>;
  readonly hooks: ClientProgress;
  private received = 0;
  private readonly waiting: { count: number; resolve: () => void }[] = [];
  private resolveEnded!: (outcome: ClientOutcome) => void;

  constructor() {
    let answer!: () => void;
    this.answered = new Promise<void>((resolve) => (answer = resolve));
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    this.hooks = {
      onAnswered: answer,
      onEvent: (received) => {
        this.received = received;
        for (const w of this.waiting.filter((w) => w.count <= received)) w.resolve();
      },
    };
    // A start that never answered, or a turn that ended, lets the next message go.
    void this.ended.then(() => {
      answer();
      for (const w of this.waiting) w.resolve();
    });
  }

  /** Resolves once `count` events arrived or the turn ended. */
  events(count: number): Promise<void> {
    if (this.received >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ count, resolve }));
  }

  end(outcome: ClientOutcome): void {
    this.resolveEnded(outcome);
  }
}

/** How long clients waited for their next delta after kills: how many waits were measured, their p50 and p90 (ms). */
interface Recovery {
  samples: number;
  p50: number;
  p90: number;
}

function recoveryTimes(kills: Kill[], outcomes: ClientOutcome[]): ChaosSummary['recovery'] {
  const all: number[] = [];
  const byPhase = new Map<KillPhase, number[]>();
  for (const k of kills) {
    for (const index of k.turns) {
      const next = outcomes[index]?.textTimes.find((t) => t > k.at);
      if (next === undefined) continue;
      all.push(next - k.at);
      byPhase.set(k.phase, [...(byPhase.get(k.phase) ?? []), next - k.at]);
    }
  }
  return {
    ...quantiles(all),
    byPhase: Object.fromEntries([...byPhase].map(([phase, samples]) => [phase, quantiles(samples)])),
  };
}

function quantiles(samples: number[]): Recovery {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { samples: sorted.length, p50: at(0.5), p90: at(0.9) };
}

/** Removes the run's folder (logs, clusters); kept when a run fails so it can be read. */
export async function removeRunDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
