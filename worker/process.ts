import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import OpenAI from 'openai';
import pino, { type Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { encryptionDataConverter } from '../codec';
import { createPool, isPostgresUnavailable, migrate } from '../db';
import { builtinTools, createToolRegistry, type Tool } from '../activities/tools';
import { signalOnShutdown, waitFor } from '../client';
import { temporalConnectionOptions } from '../config';
import { loadWorkerConfig } from './config';
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
  // Before the first Temporal connection: the SDK's logs join ours (a failing workflow task as an error), and its
  // own metrics (task latencies, slots, pollers, sticky cache…) are served when a port is set.
  const sdkMetrics =
    config.TURNFLOW_SDK_METRICS_PORT === undefined
      ? undefined
      : `${config.TURNFLOW_METRICS_HOST}:${config.TURNFLOW_SDK_METRICS_PORT}`;
  installWorkerRuntime(logger, sdkMetrics);
  if (sdkMetrics) logger.info({ url: `http://${sdkMetrics}/metrics` }, 'temporal sdk metrics');
  // A bad tool set stops the worker here, before it takes any turn (the seed's fail-fast validation).
  const all = createToolRegistry([...builtinTools(), ...(opts.tools ?? [])]);
  const tools = config.TURNFLOW_TOOLS ? all.subset(config.TURNFLOW_TOOLS) : all;
  checkApprovalTools(config.TURNFLOW_APPROVAL_TOOLS, tools);
  const models = [config.OPENAI_MODEL, ...config.TURNFLOW_MODELS.filter((m) => m !== config.OPENAI_MODEL)];
  const mcpServers = {
    ...(config.TURNFLOW_MCP_CONFIG ? await readMcpConfigFile(config.TURNFLOW_MCP_CONFIG) : {}),
    ...(opts.mcpServers ?? {}),
  };

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
    metricsServer = await startMetricsServer(registry, {
      port: config.TURNFLOW_METRICS_PORT,
      host: config.TURNFLOW_METRICS_HOST,
    });
    logger.info({ url: metricsServer.url }, 'turnflow worker metrics');
  }
  const metrics = registry && createWorkerMetrics(registry, { tenantLabel: config.TURNFLOW_METRICS_TENANT_LABEL });
  const connectionOptions = temporalConnectionOptions(config);
  const connection = await waitFor('Temporal', () => NativeConnection.connect(connectionOptions), waiting).catch(
    async (err: unknown) => {
      await pool.end();
      await metricsServer?.close();
      if (!shutdown.aborted) throw err;
      metricsServer = undefined;
    },
  );
  if (connection === undefined) {
    await metricsServer?.close();
    return;
  }
  let tracing: Tracing | undefined;
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
    tracing = tracingConfig && startTracing(tracingConfig);
    if (tracing) logger.info({ url: tracing.config.tracesUrl }, 'turnflow worker exports traces');
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
          pool,
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
          ...(metrics ? { metrics } : {}),
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
    await runUntilShutdown(createWorker, shutdown, logger);
  } finally {
    await peers?.stop();
    await connection.close();
    await pool.end();
    await metricsServer?.close();
    await tracing?.shutdown();
  }
}

/**
 * Runs the worker until a shutdown signal. `run()` resolves after a graceful shutdown; when it fails
 * instead (the SDK gives up on a server that stayed away, say), a new worker takes its place after a pause
 * rather than the process exiting with turns it could still finish.
 */
async function runUntilShutdown(
  create: () => Promise<{ run(): Promise<void> }>,
  shutdown: AbortSignal,
  logger: Logger,
): Promise<void> {
  let delayMs = 1_000;
  for (;;) {
    try {
      const worker = await create();
      delayMs = 1_000;
      await worker.run();
      return;
    } catch (err: unknown) {
      if (shutdown.aborted) throw err;
      logger.error({ err, retryInMs: delayMs }, 'worker stopped with an error; starting a new one');
      await sleep(delayMs, undefined, { signal: shutdown }).catch(() => undefined);
      if (shutdown.aborted) return;
      delayMs = Math.min(delayMs * 2, 30_000);
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
