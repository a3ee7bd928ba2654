import { NativeConnection } from '@temporalio/worker';
import type { Logger } from 'pino';
import { temporalConnectionOptions } from '../config';
import type { Tracing } from '../tracing';
import { loadWorkerConfig } from '../worker/config';
import { installTurnWorkerRuntime, openTurnWorkerResources, planTurnWorker, runTurnWorker } from '../worker/process';

/**
 * A turn worker in the gateway's process (`GATEWAY_WORKER=true`), configured from the same environment as
 * `worker/main.ts` and built by the same code (worker/process.ts): models, tools, MCP servers, its own pool and
 * Postgres lease, payload encryption, metrics on `TURNFLOW_METRICS_PORT`, the SDK's on `TURNFLOW_SDK_METRICS_PORT`.
 * It shares the gateway's Temporal connection, so the gateway's direct starts can ask for eager workflow start: the
 * server hands the turn's first workflow task back in the start's answer, to this worker, with no trip through
 * matching.
 */
export interface GatewayWorker {
  /** Connects to Temporal for the gateway's client and the worker both (a worker needs a `NativeConnection`). */
  connect(): Promise<NativeConnection>;
  /**
   * Opens the worker's pool (and metrics endpoint) and runs it on `connection` until `shutdown`; resolves once it
   * polls, or once its first creation failed (it is retried meanwhile, as the standalone worker does).
   */
  start(host: { connection: NativeConnection; shutdown: AbortSignal; tracing?: Tracing }): Promise<RunningWorker>;
}

/** A hosted worker that {@link GatewayWorker.start} started. */
export interface RunningWorker {
  /**
   * Settles once the worker has stopped (after the shutdown signal, within its `shutdownForceTimeMs`) and its pool,
   * lease and metrics endpoint are closed; rejects when its graceful shutdown did not finish in that time.
   */
  stopped: Promise<void>;
}

/**
 * Reads the worker's environment and installs the process's Temporal runtime (before any Temporal connection).
 * @throws ConfigError naming each bad worker variable, or a tool set that does not fit: the gateway does not start.
 */
export async function prepareGatewayWorker(
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<GatewayWorker> {
  const config = loadWorkerConfig(env);
  const plan = await planTurnWorker(config);
  installTurnWorkerRuntime(config, logger);
  return {
    connect: () => NativeConnection.connect(temporalConnectionOptions(config)),
    async start({ connection, shutdown, tracing }) {
      const resources = await openTurnWorkerResources(config, logger);
      let created!: () => void;
      const ready = new Promise<void>((resolve) => (created = resolve));
      const stopped = runTurnWorker(plan, resources, {
        connection,
        logger,
        shutdown,
        ...(tracing ? { tracing } : {}),
        onCreated: () => created(),
      }).finally(() => resources.close());
      await Promise.race([ready, stopped]);
      return { stopped };
    },
  };
}
