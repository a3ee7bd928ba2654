import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import OpenAI from 'openai';
import type pg from 'pg';
import pino, { type Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { encryptionDataConverter } from '../codec';
import { createPool, isPostgresUnavailable, migrate } from '../db';
import { builtinTools, createToolRegistry, type Tool, type ToolRegistry } from '../activities/tools';
import type { ActivityDeps } from '../activities';
import { signalOnShutdown, waitFor } from '../client';
import { temporalConnectionOptions } from '../config';
import { loadWorkerConfig, type WorkerConfig } from './config';
import { checkApprovalTools, createTurnWorker, type TurnWorkerOptions } from './create-worker';
import { readMcpConfigFile } from '../activities/tools/mcp';
import { installWorkerRuntime } from './runtime';
import { startPeerReaper, workerIdentity } from './peers';
import { createWorkerMetrics, startMetricsServer, type MetricsServer } from '../metrics';
import { loadTracingConfig } from '../tracing';
import { startTracing, type Tracing } from '../tracing/sdk';

/** Options of {@link runWorkerProcess}. */
export interface WorkerProcessOptions {
  /** Tools offered besides the built-in ones (`TURNFLOW_TOOLS` may name them too). */
  tools?: readonly Tool[];
  /** A prebuilt workflow bundle; default: `TURNFLOW_WORKFLOW_BUNDLE`'s file, else as {@link createTurnWorker} does. */
  workflowBundle?: TurnWorkerOptions['workflowBundle'];
  interceptors?: TurnWorkerOptions['interceptors'];
  /**
   * MCP servers whose tools the worker offers (`mcpServers` of the common `mcp.json` shape), besides those of the
   * file `TURNFLOW_MCP_CONFIG` names; an entry here replaces the file's entry of the same name.
   */
  mcpServers?: TurnWorkerOptions['mcpServers'];
}

/**
 * The worker process: reads its environment, waits for Postgres (and migrates) and for Temporal, then runs
 * chat turns until SIGINT or SIGTERM, replacing its SDK worker if that one fails. `worker/main.ts` runs it as is;
 * a process with tools of its own passes them here.
 */
export async function runWorkerProcess(opts: WorkerProcessOptions = {}): Promise<void> {
  const config = loadWorkerConfig();
  const tracingConfig = loadTracingConfig('turnflow-worker');
  const logger = pino({ level: config.LOG_LEVEL, redact: ['*.apiKey', '*.authorization', '*.Authorization'] });
  installTurnWorkerRuntime(config, logger);
  // A bad tool set stops the worker here, before it takes any turn (the seed's fail-fast validation).
  const plan = await planTurnWorker(config, opts);

  // Postgres or Temporal not being there yet (a restart, a compose stack coming up) is waited out, not fatal.
  const shutdown = signalOnShutdown();
  const waiting = { signal: shutdown, onWait: logWait(logger) };
  try {
    await waitFor('Postgres (migrations)', () => migrate(config.DATABASE_URL), {
      ...waiting,
      isTransient: isPostgresUnavailable,
    });
  } catch (err: unknown) {
    if (shutdown.aborted) return;
    throw err;
  }
  const resources = await openTurnWorkerResources(config, logger);
  const connectionOptions = temporalConnectionOptions(config);
  const connection = await waitFor('Temporal', () => NativeConnection.connect(connectionOptions), waiting).catch(
    async (err: unknown) => {
      await resources.close();
      if (!shutdown.aborted) throw err;
      return undefined;
    },
  );
  if (connection === undefined) return;
  let tracing: Tracing | undefined;
  try {
    tracing = tracingConfig && startTracing(tracingConfig);
    if (tracing) logger.info({ url: tracing.config.tracesUrl }, 'turnflow worker exports traces');
    await runTurnWorker(plan, resources, { connection, logger, shutdown, ...(tracing ? { tracing } : {}) });
  } finally {
    await connection.close();
    await resources.close();
    await tracing?.shutdown();
  }
}

/**
 * Installs the process's Temporal runtime as a worker process has it: the SDK's logs in `logger`, and its own metrics
 * served when `TURNFLOW_SDK_METRICS_PORT` is set. Call once, before the process's first Temporal connection.
 */
export function installTurnWorkerRuntime(config: WorkerConfig, logger: Logger): void {
  // Before the first Temporal connection: the SDK's logs join ours (a failing workflow task as an error), and its
  // own metrics (task latencies, slots, pollers, sticky cache…) are served when a port is set.
  const sdkMetrics =
    config.TURNFLOW_SDK_METRICS_PORT === undefined
      ? undefined
      : `${config.TURNFLOW_METRICS_HOST}:${config.TURNFLOW_SDK_METRICS_PORT}`;
  installWorkerRuntime(logger, sdkMetrics);
  if (sdkMetrics) logger.info({ url: `http://${sdkMetrics}/metrics` }, 'temporal sdk metrics');
}

/** What a worker's environment asks it to serve, resolved and checked before anything connects. */
export interface TurnWorkerPlan {
  config: WorkerConfig;
  opts: WorkerProcessOptions;
  tools: ToolRegistry;
  /** The default model first. */
  models: string[];
  mcpServers: NonNullable<TurnWorkerOptions['mcpServers']>;
}

/**
 * Resolves the worker's tools, models and MCP servers from its environment (and `opts`).
 * @throws ConfigError for a tool set or approval tools that do not fit (the seed's fail-fast validation), or the
 *   file system's error for an unreadable `TURNFLOW_MCP_CONFIG`: a bad configuration stops the process before it
 *   takes any turn.
 */
export async function planTurnWorker(config: WorkerConfig, opts: WorkerProcessOptions = {}): Promise<TurnWorkerPlan> {
  const all = createToolRegistry([...builtinTools(), ...(opts.tools ?? [])]);
  const tools = config.TURNFLOW_TOOLS ? all.subset(config.TURNFLOW_TOOLS) : all;
  checkApprovalTools(config.TURNFLOW_APPROVAL_TOOLS, tools);
  const models = [config.OPENAI_MODEL, ...config.TURNFLOW_MODELS.filter((m) => m !== config.OPENAI_MODEL)];
  const mcpServers = {
    ...(config.TURNFLOW_MCP_CONFIG ? await readMcpConfigFile(config.TURNFLOW_MCP_CONFIG) : {}),
    ...(opts.mcpServers ?? {}),
  };
  return { config, opts, tools, models, mcpServers };
}

/** The worker's own Postgres pool and metrics (served on `TURNFLOW_METRICS_PORT` when set). */
export interface TurnWorkerResources {
  pool: pg.Pool;
  metrics: ActivityDeps['metrics'];
  /** Closes the pool and the metrics endpoint. */
  close(): Promise<void>;
}

/** Opens the worker's pool and, with `TURNFLOW_METRICS_PORT`, its metrics endpoint. */
export async function openTurnWorkerResources(config: WorkerConfig, logger: Logger): Promise<TurnWorkerResources> {
  // A connection that cannot be had in 30 s fails the activity (Temporal retries it) instead of hanging it
  // while its heartbeats make it look alive. A dropped connection only fails what was using it.
  const pool = createPool(
    { connectionString: config.DATABASE_URL, max: config.DATABASE_POOL_MAX, connectionTimeoutMillis: 30_000 },
    (err) => logger.warn({ err: err.message }, 'database connection failed'),
  );
  let metricsServer: MetricsServer | undefined;
  const registry = config.TURNFLOW_METRICS_PORT === undefined ? undefined : new Registry();
  if (registry && config.TURNFLOW_METRICS_PORT !== undefined) {
    collectDefaultMetrics({ register: registry });
    try {
      metricsServer = await startMetricsServer(registry, {
        port: config.TURNFLOW_METRICS_PORT,
        host: config.TURNFLOW_METRICS_HOST,
      });
    } catch (err: unknown) {
      await pool.end();
      throw err;
    }
    logger.info({ url: metricsServer.url }, 'turnflow worker metrics');
  }
  const metrics = registry && createWorkerMetrics(registry, { tenantLabel: config.TURNFLOW_METRICS_TENANT_LABEL });
  return {
    pool,
    metrics,
    async close() {
      await pool.end();
      await metricsServer?.close();
    },
  };
}

/** The process's own parts a turn worker runs on; {@link runTurnWorker} closes none of them. */
export interface TurnWorkerHost {
  /** The worker's connection; a client on the same one may ask for eager workflow starts. */
  connection: NativeConnection;
  logger: Logger;
  /** Stops the worker (gracefully, within its `shutdownForceTimeMs`) and ends its restarts. */
  shutdown: AbortSignal;
  /** The process's tracing (OpenTelemetry's globals: one per process). @default none */
  tracing?: Tracing;
  /** Called once the first SDK worker is created (it polls from then on), or its creation failed (it is retried). */
  onCreated?: () => void;
}

/**
 * Runs chat turns on `host.connection` until `host.shutdown`, replacing its SDK worker if that one fails; holds the
 * worker's Postgres lease meanwhile. Resolves once the worker has stopped.
 */
export async function runTurnWorker(
  plan: TurnWorkerPlan,
  resources: TurnWorkerResources,
  host: TurnWorkerHost,
): Promise<void> {
  const { config, opts, tools, models, mcpServers } = plan;
  const { connection, logger, tracing } = host;
  const identity = workerIdentity();
  const dataConverter = encryptionDataConverter(config.TURNFLOW_ENCRYPTION_KEYS);
  // A worker that dies is noticed by the others through its Postgres lease: they fail its activities for an
  // immediate retry instead of waiting out the heartbeat timeout.
  const peers =
    config.TURNFLOW_PEER_POLL_MS > 0
      ? startPeerReaper({
          databaseUrl: config.DATABASE_URL,
          identity,
          client: new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter }),
          taskQueue: config.TURNFLOW_TASK_QUEUE,
          pollMs: config.TURNFLOW_PEER_POLL_MS,
          logger,
        })
      : undefined;
  try {
    const openai = new OpenAI({
      apiKey: config.OPENAI_API_KEY,
      ...(config.OPENAI_BASE_URL ? { baseURL: config.OPENAI_BASE_URL } : {}),
      maxRetries: 0,
    });
    const createWorker = () =>
      createTurnWorker({
        connection,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue: config.TURNFLOW_TASK_QUEUE,
        identity,
        deps: {
          pool: resources.pool,
          openai,
          tools,
          models: { default: config.OPENAI_MODEL, allowed: models },
          logger,
          logLlmReplies: config.TURNFLOW_LOG_LLM_REPLIES,
          llmIdleTimeoutMs: config.TURNFLOW_LLM_IDLE_TIMEOUT_MS,
          llmFailureBudget: config.TURNFLOW_LLM_FAILURE_BUDGET,
          streamConnections: config.TURNFLOW_STREAM_CONNECTIONS,
          approvalTools: config.TURNFLOW_APPROVAL_TOOLS,
          approvalTimeoutMs: config.TURNFLOW_APPROVAL_TIMEOUT,
          ...(resources.metrics ? { metrics: resources.metrics } : {}),
        },
        maxConcurrentActivityTaskExecutions: config.TURNFLOW_MAX_CONCURRENT_ACTIVITIES,
        ...(opts.workflowBundle
          ? { workflowBundle: opts.workflowBundle }
          : config.TURNFLOW_WORKFLOW_BUNDLE
            ? { workflowBundle: { codePath: config.TURNFLOW_WORKFLOW_BUNDLE } }
            : {}),
        ...(opts.interceptors ? { interceptors: opts.interceptors } : {}),
        mcpServers,
        ...(tracing ? { tracing } : {}),
        dataConverter,
      });
    logger.info(
      {
        temporal: config.TEMPORAL_ADDRESS,
        identity,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue: config.TURNFLOW_TASK_QUEUE,
        models,
        tools: tools.names,
        mcpServers: Object.keys(mcpServers),
        llm: config.OPENAI_BASE_URL ?? 'https://api.openai.com/v1',
      },
      'turnflow worker running',
    );
    await runUntilShutdown(createWorker, host);
  } finally {
    await peers?.stop();
  }
}

/**
 * Runs the worker until `shutdown`. `run()` resolves after a graceful shutdown, which the shutdown signal asks for
 * (the SDK's runtime does too, on SIGINT or SIGTERM); when it fails instead (the SDK gives up on a server that stayed
 * away, say), a new worker takes its place after a pause rather than the process exiting with turns it could still
 * finish.
 */
async function runUntilShutdown(
  create: () => Promise<Worker>,
  host: Pick<TurnWorkerHost, 'shutdown' | 'logger' | 'onCreated'>,
): Promise<void> {
  const { shutdown, logger } = host;
  let created = host.onCreated;
  const tellCreated = () => {
    created?.();
    created = undefined;
  };
  let delayMs = 1_000;
  for (;;) {
    let stop: (() => void) | undefined;
    try {
      const worker = await create();
      tellCreated();
      delayMs = 1_000;
      stop = () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
      };
      const running = worker.run();
      if (shutdown.aborted) stop();
      else shutdown.addEventListener('abort', stop, { once: true });
      await running;
      return;
    } catch (err: unknown) {
      tellCreated();
      if (shutdown.aborted) throw err;
      logger.error({ err, retryInMs: delayMs }, 'worker stopped with an error; starting a new one');
      await sleep(delayMs, undefined, { signal: shutdown }).catch(() => undefined);
      if (shutdown.aborted) return;
      delayMs = Math.min(delayMs * 2, 30_000);
    } finally {
      if (stop) shutdown.removeEventListener('abort', stop);
    }
  }
}

function logWait(logger: Logger) {
  return ({ what, attempt, delayMs, err }: { what: string; attempt: number; delayMs: number; err: unknown }) =>
    logger.warn(
      { attempt, retryInMs: delayMs, err: err instanceof Error ? err.message : String(err) },
      `waiting for ${what}`,
    );
}
