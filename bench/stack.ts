import { execFile } from 'node:child_process';
import { chmod, mkdtemp, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
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
  type RestartableDevServer,
  type ThrowawayPostgres,
} from '../dev';
import { ensureBuilt } from '../dev/ensure-built';
import { hashToken } from '../gateway/tenants';
import { BenchModel } from './model';
import { Proc } from '../chaos/proc';
import { findChild, parentOf } from './proc';

/**
 * Extra flags of the bench's Temporal dev server, in one place: the list below plus `BENCH_TEMPORAL_FLAGS`
 * (space-separated), e.g. `--dynamic-config-value system.enableEagerWorkflowStart=true`.
 */
export const TEMPORAL_FLAGS: readonly string[] = [];

export function temporalFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const fromEnv = (env['BENCH_TEMPORAL_FLAGS'] ?? '').split(/\s+/).filter(Boolean);
  return [...TEMPORAL_FLAGS, ...fromEnv];
}

export const TENANT = 'bench';
export const TENANT_TOKEN = 'bench-token';
export const TURNFLOW_QUEUE = 'bench-turnflow';
export const WORKFLOW_STREAMS_QUEUE = 'bench-workflow-streams';
export const MODEL_NAME = 'bench-model';
/** The gateway's running-turn and open-stream limits in the bench: on, and above anything a phase starts. */
export const BENCH_GATEWAY_LIMIT = 5_000;
/**
 * The start deadline of the bench's callers (gateway and `TurnClient`): the warm-up starts as soon as the gateway
 * listens, while the just-spawned worker may still be starting, and a burst queues its starts behind one worker; both
 * are measured, never refused.
 */
export const BENCH_START_TIMEOUT_MS = 300_000;
/** `application_name` of each process's Postgres connections, so pg_stat_activity says whose they are. */
export const APP_NAMES = { worker: 'turnflow-worker', gateway: 'turnflow-gateway', bench: 'turnflow-bench' } as const;

const WORKFLOW_STREAMS_DIR = path.join(PROJECT_ROOT, 'bench', 'workflow-streams');

/** Everything the bench runs: its own Postgres and Temporal, the model, and one process per system. */
export interface BenchStack {
  dir: string;
  model: BenchModel;
  databaseUrl: string;
  /** The bench's own pool (the TurnClient reads events through it). */
  pool: pg.Pool;
  temporal: Client;
  temporalAddress: string;
  gatewayUrl: string;
  /** Absent when the stack was started without the comparison systems. */
  directUrl: string;
  /** The dev server's Prometheus endpoint (its request counters: heartbeats that reached it). */
  temporalMetricsUrl: string;
  pids: { worker: number; gateway: number; temporal: number; postgres: number };
  /** Stops every process it started and deletes its files. */
  close(): Promise<void>;
}

/** `url` with `application_name` set. */
export function withAppName(url: string, name: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', name);
  return u.toString();
}

/**
 * Installs the isolated workflow_streams package (`npm ci` in bench/workflow-streams) when its node_modules is
 * missing or older than its lockfile. Never part of the root `npm ci` or of `npm test`.
 */
export async function ensureWorkflowStreamsInstalled(log: (line: string) => void): Promise<void> {
  const lock = await stat(path.join(WORKFLOW_STREAMS_DIR, 'package-lock.json'));
  const installed = await stat(path.join(WORKFLOW_STREAMS_DIR, 'node_modules', '.package-lock.json')).catch(
    () => undefined,
  );
  if (installed !== undefined && installed.mtimeMs >= lock.mtimeMs) return;
  log('bench: installing bench/workflow-streams (npm ci, its own lockfile)');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  await promisify(execFile)(npm, ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: WORKFLOW_STREAMS_DIR });
}

/**
 * Starts the stack; `log` gets progress lines. With `turnflowOnly` the direct server and workflow_streams are not
 * started (the start-path run measures turnflow alone).
 */
export async function startStack(
  log: (line: string) => void,
  opts: { turnflowOnly?: boolean } = {},
): Promise<BenchStack> {
  const comparisons = opts.turnflowOnly !== true;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'turnflow-bench-'));
  await chmod(dir, 0o755); // the Postgres cluster inside runs as the postgres OS user
  const cleanups: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const flags = temporalFlags();
    log(`bench: stack in ${dir}${flags.length ? `; Temporal flags: ${flags.join(' ')}` : ''}`);
    const metricsPort = await freePort();
    const [postgres, devServer, model] = await Promise.all([
      throwawayPostgres({ parent: dir }),
      restartableDevServer({ parent: dir, extraArgs: [...flags, '--metrics-port', String(metricsPort)] }),
      BenchModel.start(),
      comparisons ? ensureWorkflowStreamsInstalled(log) : undefined,
      // The worker and the gateway run compiled, as deployed (docker/Dockerfile): dist/, with the workflows bundled
      // ahead (dist/workflow-bundle.js), so no process runs the bundler or a TypeScript loader.
      ensureBuilt(),
    ]).then(([p, t, m]) => [p, t, m] as [ThrowawayPostgres, RestartableDevServer, BenchModel]);
    cleanups.push(
      () => postgres.destroy(),
      () => devServer.destroy(),
      () => model.close(),
    );
    await createDatabase(postgres.url, 'turnflow');
    const databaseUrl = databaseUrlFor(postgres.url, 'turnflow');
    await migrate(databaseUrl);
    const pool = new pg.Pool({ connectionString: withAppName(databaseUrl, APP_NAMES.bench), max: 40 });
    pool.on('error', () => undefined);
    cleanups.push(() => pool.end());
    const connection = await Connection.connect({ address: devServer.address });
    cleanups.push(() => connection.close());
    const temporal = new Client({ connection });

    const [gatewayPort, directPort] = [await freePort(), await freePort()];
    const common = {
      TEMPORAL_ADDRESS: devServer.address,
      OPENAI_BASE_URL: model.baseURL,
      OPENAI_API_KEY: 'bench',
      OPENAI_MODEL: MODEL_NAME,
      LOG_LEVEL: 'warn',
    };
    // `BENCH_NODE_FLAGS` (space-separated, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) go to the worker and the gateway.
    const nodeFlags = (process.env['BENCH_NODE_FLAGS'] ?? '').split(/\s+/).filter(Boolean);
    /** Runs `script`: a compiled one (`dist/….js`) as it is, a TypeScript one (the bench's own) under tsx. */
    const spawnNode = (name: string, script: string, env: NodeJS.ProcessEnv, flags: string[] = []): Proc => {
      const args = script.endsWith('.js') ? [...flags, script] : [...flags, '--import', 'tsx', script];
      const proc = new Proc(name, process.execPath, args, {
        cwd: PROJECT_ROOT,
        env: { ...common, ...env },
        logFile: path.join(dir, `${name}.log`),
      });
      cleanups.push(() => proc.stop());
      return proc;
    };
    // The product's own entry points, configured only through their environment: whatever their code does, the
    // bench measures. One tenant runs every bench turn: the gateway's per-tenant limits are on (their code path is
    // measured) but set far above what any phase starts, so none is refused.
    const worker = spawnNode(
      'worker',
      'dist/worker/main.js',
      { TURNFLOW_TASK_QUEUE: TURNFLOW_QUEUE, DATABASE_URL: withAppName(databaseUrl, APP_NAMES.worker) },
      nodeFlags,
    );
    const gateway = spawnNode(
      'gateway',
      'dist/gateway/main.js',
      {
        TURNFLOW_TASK_QUEUE: TURNFLOW_QUEUE,
        DATABASE_URL: withAppName(databaseUrl, APP_NAMES.gateway),
        GATEWAY_PORT: String(gatewayPort),
        TURNFLOW_API_TOKENS: `${TENANT}:${hashToken(TENANT_TOKEN)}`,
        GATEWAY_MAX_RUNNING_TURNS: String(BENCH_GATEWAY_LIMIT),
        GATEWAY_MAX_OPEN_STREAMS: String(BENCH_GATEWAY_LIMIT),
        GATEWAY_START_TIMEOUT_MS: String(BENCH_START_TIMEOUT_MS),
        // The bench's own TurnClient reads the same variable (bench/systems/turnflow.ts).
        TURNFLOW_DIRECT_START: process.env['TURNFLOW_DIRECT_START'] ?? 'true',
        // `GATEWAY_WORKER=true`: the gateway hosts a worker too (configured as the standalone one, beside it) and
        // starts its direct turns eagerly; its CPU then counts as the gateway's.
        GATEWAY_WORKER: process.env['GATEWAY_WORKER'] ?? 'false',
      },
      nodeFlags,
    );
    if (comparisons) {
      spawnNode('direct', 'bench/direct-server.ts', { DIRECT_PORT: String(directPort) });
      spawnNode('workflow-streams-worker', 'bench/workflow-streams/src/worker.ts', {
        TURNFLOW_TASK_QUEUE: WORKFLOW_STREAMS_QUEUE,
      });
    }
    await Promise.all([
      waitForPort(gatewayPort, 'the gateway', 120_000),
      comparisons ? waitForPort(directPort, 'the direct server', 60_000) : undefined,
    ]);

    const temporalPort = devServer.address.split(':').at(-1)!;
    const temporalPid = await findChild(['start-dev', temporalPort]);
    const backend = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const postmaster = await parentOf(backend.rows[0]!.pid);
    if (temporalPid === undefined || postmaster === undefined)
      throw new Error('cannot find the Temporal or Postgres pid');
    return {
      dir,
      model,
      databaseUrl,
      pool,
      temporal,
      temporalAddress: devServer.address,
      gatewayUrl: `http://127.0.0.1:${gatewayPort}`,
      directUrl: `http://127.0.0.1:${directPort}`,
      temporalMetricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      pids: { worker: worker.pid, gateway: gateway.pid, temporal: temporalPid, postgres: postmaster },
      close,
    };
  } catch (err: unknown) {
    await close();
    throw err;
  }
}
