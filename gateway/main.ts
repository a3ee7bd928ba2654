import { Client, type Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import pino from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { signalOnShutdown, TurnClient, waitFor } from '../client';
import { encryptionDataConverter } from '../codec';
import { createPool, isPostgresUnavailable, migrate } from '../db';
import { createGatewayMetrics, startMetricsServer, type MetricsServer } from '../metrics';
import { loadTracingConfig } from '../tracing';
import { clientTracingInterceptors } from '../tracing/client';
import { startTracing } from '../tracing/sdk';
import { createGatewayApp } from './app';
import { loadGatewayConfig } from './config';
import { startGatewayServer, type GatewayServer } from './server';
import { JwtTenants } from './jwt';
import { DEV_TOKEN } from './tenants';
import { connectTemporal } from './temporal';
import type { GatewayWorker, RunningWorker } from './hosted-worker';

/** Resolves on the first SIGINT or SIGTERM. */
function shutdownRequested(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

async function main(): Promise<void> {
  const config = loadGatewayConfig();
  const tracingConfig = loadTracingConfig('turnflow-gateway');
  const logger = pino({ level: config.LOG_LEVEL, redact: ['*.authorization', '*.Authorization', '*.apiKey'] });
  if (config.devTokenFallback) {
    logger.warn(
      { tenant: config.tenants.tenants[0] },
      `TURNFLOW_API_TOKENS is not set: accepting the dev token "${DEV_TOKEN}" (embedded dev stack only)`,
    );
  }
  // The hosted worker's configuration is checked before anything connects, as the standalone worker's is. Loaded
  // only when asked for: the worker's modules (the SDK's native core, the activities) are not the gateway's.
  const hosting: GatewayWorker | undefined = config.GATEWAY_WORKER
    ? await import('./hosted-worker.js').then((m) => m.prepareGatewayWorker(logger))
    : undefined;
  // Postgres or Temporal not being there yet is waited out (with a log line per attempt), not fatal.
  const waiting = {
    signal: signalOnShutdown(),
    onWait: ({ what, attempt, delayMs, err }: { what: string; attempt: number; delayMs: number; err: unknown }) =>
      logger.warn(
        { attempt, retryInMs: delayMs, err: err instanceof Error ? err.message : String(err) },
        `waiting for ${what}`,
      ),
  };
  await waitFor('Postgres (migrations)', () => migrate(config.DATABASE_URL), {
    ...waiting,
    isTransient: isPostgresUnavailable,
  });
  const pool = createPool({ connectionString: config.DATABASE_URL, max: config.DATABASE_POOL_MAX }, (err) =>
    logger.warn({ err: err.message }, 'database connection failed'),
  );
  let connection: Connection | NativeConnection | undefined;
  let worker: RunningWorker | undefined;
  const stopWorker = new AbortController();
  let turns: TurnClient | undefined;
  let server: GatewayServer | undefined;
  let metricsServer: MetricsServer | undefined;
  const tracing = tracingConfig && startTracing(tracingConfig);
  if (tracing) logger.info({ url: tracing.config.tracesUrl }, 'turnflow gateway exports traces');
  const registry = config.GATEWAY_METRICS_PORT === undefined ? undefined : new Registry();
  if (registry) collectDefaultMetrics({ register: registry });
  try {
    // With a hosted worker, one connection serves both: eager start needs the worker on the starting connection.
    const native = hosting && (await waitFor('Temporal', () => hosting.connect(), waiting));
    connection = native ?? (await waitFor('Temporal', () => connectTemporal(config), waiting));
    const client = new Client({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      dataConverter: encryptionDataConverter(config.TURNFLOW_ENCRYPTION_KEYS),
      ...(tracing ? { interceptors: clientTracingInterceptors() } : {}),
    });
    turns = new TurnClient({
      temporal: client,
      pool,
      databaseUrl: config.DATABASE_URL,
      taskQueue: config.TURNFLOW_TASK_QUEUE,
      doubleTexting: config.TURNFLOW_DOUBLE_TEXTING,
      startTimeoutMs: config.GATEWAY_START_TIMEOUT_MS,
      conversationIdleMs: config.TURNFLOW_CONVERSATION_IDLE,
      directStart: config.TURNFLOW_DIRECT_START,
      // A direct start's first workflow task is handed to the hosted worker, which shares this client's connection.
      eagerStart: hosting !== undefined,
      ...(config.TURNFLOW_TENANT_DAILY_TOKENS ? { dailyTokens: config.TURNFLOW_TENANT_DAILY_TOKENS } : {}),
    });
    const app = createGatewayApp({
      turns,
      temporal: client,
      pool,
      tenants: config.tenants,
      ...(config.jwt ? { jwt: new JwtTenants(config.jwt) } : {}),
      bodyLimitBytes: config.GATEWAY_BODY_LIMIT_BYTES,
      keepAliveMs: config.GATEWAY_KEEPALIVE_MS,
      writeTimeoutMs: config.GATEWAY_WRITE_TIMEOUT_MS,
      limits: {
        maxRunningTurns: config.GATEWAY_MAX_RUNNING_TURNS,
        maxOpenStreams: config.GATEWAY_MAX_OPEN_STREAMS,
        retryAfterSeconds: config.GATEWAY_RETRY_AFTER_SECONDS,
      },
      ...(registry
        ? { metrics: createGatewayMetrics(registry, { tenantLabel: config.TURNFLOW_METRICS_TENANT_LABEL }) }
        : {}),
      ...(tracing ? { tracer: tracing.tracer } : {}),
      logger,
    });
    // Signals stop a started gateway gracefully; before that, they end the process as usual.
    const stop = shutdownRequested();
    if (hosting && native) {
      // Listening waits for the worker, so the gateway's first starts are already eager.
      worker = await hosting.start({
        connection: native,
        shutdown: AbortSignal.any([waiting.signal, stopWorker.signal]),
        ...(tracing ? { tracing } : {}),
      });
    }
    server = await startGatewayServer(app, { port: config.GATEWAY_PORT, host: config.GATEWAY_HOST });
    if (registry && config.GATEWAY_METRICS_PORT !== undefined) {
      metricsServer = await startMetricsServer(registry, {
        port: config.GATEWAY_METRICS_PORT,
        host: config.TURNFLOW_METRICS_HOST,
      });
      logger.info({ url: metricsServer.url }, 'turnflow gateway metrics');
    }
    logger.info(
      {
        url: server.url,
        temporal: config.TEMPORAL_ADDRESS,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue: config.TURNFLOW_TASK_QUEUE,
        hostedWorker: config.GATEWAY_WORKER,
        tenants: config.tenants.tenants,
        jwt: config.jwt
          ? { jwks: config.jwt.jwksUrl.href, issuer: config.jwt.issuer, audience: config.jwt.audience }
          : 'off',
      },
      'turnflow gateway listening',
    );
    // The hosted worker stops with the process, and the process with it (the SDK's runtime also stops it on SIGQUIT
    // or SIGUSR2; a worker that failed for good rejects).
    const signal = await (worker ? Promise.race([stop, worker.stopped.then(() => 'worker stopped' as const)]) : stop);
    logger.info({ signal }, 'turnflow gateway stopping');
  } finally {
    // The worker drains (its activities are cancelled and retried elsewhere) while requests in flight finish.
    stopWorker.abort();
    await metricsServer?.close();
    await server?.close();
    await worker?.stopped.catch((err: unknown) => {
      logger.error({ err }, 'the hosted worker did not stop cleanly');
      process.exitCode = 1;
    });
    await turns?.close();
    await connection?.close();
    await pool.end();
    await tracing?.shutdown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
