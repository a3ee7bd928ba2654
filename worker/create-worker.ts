import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { TASK_QUEUE } from '../common';
import { workerActivities, type ActivityDeps } from '../activities';
import { publishCatalog, type WorkerCatalog } from '../client/catalog';
import { startMcpServers, withMcpTools, type McpServers, type McpServersConfig } from '../activities/tools/mcp';
import type { ToolRegistry } from '../activities/tools';
import { ConfigError } from '../config';
import type { Tracing } from '../tracing';
import { activityTracing, workerTracingOptions } from '../tracing/worker';
import { packagedWorkflowBundle, WORKFLOWS_PATH } from './workflow-bundle';

export { WORKFLOWS_PATH };

/** What {@link createTurnWorker} needs besides the activities' resources. */
export interface TurnWorkerOptions {
  connection: NativeConnection;
  /** @default 'default' */
  namespace?: string;
  /** @default TASK_QUEUE */
  taskQueue?: string;
  /**
   * The worker's Temporal identity; the worker process passes `workerIdentity()`, unique per process, which is also
   * its Postgres lease's name (worker/peers). @default the SDK's `pid@host`
   */
  identity?: string;
  deps: ActivityDeps;
  /**
   * A prebuilt workflow bundle (`{ codePath }` of `npm run build:workflows`, or one tests build once); default: the
   * packaged `dist/workflow-bundle.js` when running from the built package, else bundle `workflows/` now.
   */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /**
   * Activities (LLM streams, tools) this worker runs at once. They wait on the network, not the CPU, and no longer
   * hold a database connection each, so the default is high: a worker streams this many turns at once.
   * @default DEFAULT_MAX_CONCURRENT_ACTIVITIES
   */
  maxConcurrentActivityTaskExecutions?: number;
  /**
   * How payloads are converted and encoded (e.g. `encryptionDataConverter(keys)`); it must match the clients'.
   * @default Temporal's default converter
   */
  dataConverter?: WorkerOptions['dataConverter'];
  /** Temporal worker interceptors (e.g. to observe activities); none by default. */
  interceptors?: WorkerOptions['interceptors'];
  /**
   * Workflows kept in the worker's sticky cache; 0 replays every workflow task from its full history, which is what
   * any worker does after a restart (tests use it to exercise that path on every task). @default the SDK's
   */
  maxCachedWorkflows?: number;
  /**
   * MCP servers whose tools the worker offers besides `deps.tools`, as `<server>__<tool>`: the `mcpServers` of
   * the common `mcp.json` shape (`{ command, args?, env? }` or `{ url, headers? }`, plus `timeoutMs`,
   * `maxAttempts`, `required`), with `${VAR}` read from `process.env`. They start before the worker is created,
   * are shared by all its turns and close when its `run()` ends. None by default.
   */
  mcpServers?: McpServersConfig | Readonly<Record<string, unknown>>;
  /**
   * The process's tracing (`startTracing`): activities, workflows and the LLM and tool calls in them export spans.
   * A prebuilt {@link TurnWorkerOptions.workflowBundle} must then include `TRACING_WORKFLOW_INTERCEPTORS`
   * (`bundleWorkflowCode({ workflowInterceptorModules })`). @default none: no spans
   */
  tracing?: Tracing;
  /**
   * Runs workflow code on this thread instead of a worker thread of its own (the SDK's `debugMode`): no thread to
   * start and no second copy of the SDK to load per worker, but no deadlock detection either, and a workflow task
   * blocks this thread while it runs. For debugging, and for tests that create many short-lived workers in one
   * process. @default false
   */
  debugMode?: boolean;
  /**
   * How long a worker asked to stop waits for its tasks to drain (activities are cancelled at once and run again on
   * another worker) before it gives up: `run()` then rejects (SDK 1.24 reports the cleanup error that follows its
   * `GracefulShutdownPeriodExpiredError`), so a deploy or a test never waits for ever on a shutdown that cannot
   * finish. @default DEFAULT_SHUTDOWN_FORCE_TIME_MS (30 s)
   */
  shutdownForceTimeMs?: number;
}

/** Default of {@link TurnWorkerOptions.shutdownForceTimeMs}. */
export const DEFAULT_SHUTDOWN_FORCE_TIME_MS = 30_000;

/** Default activity slots of a worker (see {@link TurnWorkerOptions.maxConcurrentActivityTaskExecutions}). */
export const DEFAULT_MAX_CONCURRENT_ACTIVITIES = 500;

/**
 * Refuses approval tools the worker does not offer: a misspelt name would silently let every call of the tool meant
 * run unapproved.
 * @throws {@link ConfigError} naming the unknown tools.
 */
export function checkApprovalTools(names: readonly string[], tools: ToolRegistry): void {
  const unknown = names.filter((name) => !tools.has(name));
  if (unknown.length > 0) {
    throw new ConfigError(
      `TURNFLOW_APPROVAL_TOOLS names tools this worker does not offer: ${unknown.join(', ')} ` +
        `(it offers: ${tools.names.join(', ') || 'none'})`,
    );
  }
}

/**
 * A worker that runs chat turns: the `chatTurn` workflow and its activities bound to `deps`. Heartbeats are
 * sent at least every second, so a stop request reaches a streaming activity within about a second. Publishes
 * what it serves (models, tools) for its task queue, so starts asking for anything else are refused up front.
 *
 * Pollers scale with the backlog, so a burst of starts reaches free slots at once instead of ten at a time.
 */
export async function createTurnWorker(opts: TurnWorkerOptions): Promise<Worker> {
  const mcp =
    opts.mcpServers && Object.keys(opts.mcpServers).length > 0
      ? await startMcpServers(opts.mcpServers, { logger: opts.deps.logger })
      : undefined;
  try {
    const deps = mcp ? { ...opts.deps, tools: withMcpTools(opts.deps.tools, mcp.tools) } : opts.deps;
    const worker = await createWorker({ ...opts, deps });
    if (mcp) {
      closeWithWorker(worker, mcp);
      republishOnToolChanges(mcp, { ...opts, deps });
    }
    return worker;
  } catch (err: unknown) {
    await mcp?.close();
    throw err;
  }
}

/** Closes the MCP servers once the worker's `run()` (which `runUntil` calls too) has ended, however it ends. */
function closeWithWorker(worker: Worker, mcp: McpServers): void {
  const run = worker.run.bind(worker);
  worker.run = async () => {
    try {
      await run();
    } finally {
      await mcp.close();
    }
  };
}

/**
 * Where the worker's workflows come from: the bundle it was given, else the packaged one (unless workflow interceptor
 * modules are asked for: they must be bundled in), else `workflows/` bundled now.
 */
function workflowCode(
  opts: TurnWorkerOptions,
  interceptors: WorkerOptions['interceptors'],
): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  if (opts.workflowBundle) {
    if (opts.tracing) {
      opts.deps.logger.warn(
        'the worker traces but runs a workflow bundle built ahead: its workflows export spans only if that bundle ' +
          'was built with the tracing interceptors (unset TURNFLOW_WORKFLOW_BUNDLE to bundle them at start)',
      );
    }
    return { workflowBundle: opts.workflowBundle };
  }
  const packaged = interceptors?.workflowModules?.length ? undefined : packagedWorkflowBundle();
  return packaged ? { workflowBundle: packaged } : { workflowsPath: WORKFLOWS_PATH };
}

/**
 * Publishes the catalog again whenever an MCP server's tool list changes, so the fingerprints operators read there
 * are the ones the worker offers now. One publication at a time, in order; a failed one is logged.
 */
function republishOnToolChanges(mcp: McpServers, opts: TurnWorkerOptions): void {
  let publishing = Promise.resolve();
  mcp.onToolsChanged(() => {
    publishing = publishing
      .then(() => publishCatalog(opts.deps.pool, catalogOf(opts)))
      .catch((err: unknown) => opts.deps.logger.warn({ err }, 'the worker catalog could not be published again'));
  });
}

/** What the worker serves, as {@link publishCatalog} publishes it. */
function catalogOf(opts: TurnWorkerOptions): WorkerCatalog {
  return {
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    defaultModel: opts.deps.models.default,
    models: [...opts.deps.models.allowed],
    tools: [...opts.deps.tools.names],
    toolFingerprints: opts.deps.tools.offered().fingerprints,
  };
}

async function createWorker(opts: TurnWorkerOptions): Promise<Worker> {
  checkApprovalTools(opts.deps.approvalTools ?? [], opts.deps.tools);
  const taskQueue = opts.taskQueue ?? TASK_QUEUE;
  const traced = opts.tracing ? workerTracingOptions(opts.tracing) : undefined;
  const deps =
    opts.tracing && !opts.deps.tracing ? { ...opts.deps, tracing: activityTracing(opts.tracing) } : opts.deps;
  const interceptors = traced
    ? {
        ...opts.interceptors,
        activity: [...(opts.interceptors?.activity ?? []), ...traced.interceptors.activity],
        // A prebuilt bundle already holds its workflow interceptors (the worker ignores these then).
        ...(opts.workflowBundle
          ? {}
          : {
              workflowModules: [...(opts.interceptors?.workflowModules ?? []), ...traced.interceptors.workflowModules],
            }),
      }
    : opts.interceptors;
  const worker = await Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue,
    ...workflowCode(opts, interceptors),
    activities: workerActivities(deps),
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions ?? DEFAULT_MAX_CONCURRENT_ACTIVITIES,
    workflowTaskPollerBehavior: { type: 'autoscaling' },
    activityTaskPollerBehavior: { type: 'autoscaling' },
    // A workflow task waits this long on a lost worker's sticky queue before any worker may take it (SDK default
    // 10 s): part of the recovery after a kill (docs/chaos.md). A worker too busy to take its own sticky task in
    // time loses it to the shared queue, where it is replayed from its history (O(hops)).
    stickyQueueScheduleToStartTimeout: '2 seconds',
    maxHeartbeatThrottleInterval: '1 second',
    defaultHeartbeatThrottleInterval: '1 second',
    ...(opts.identity ? { identity: opts.identity } : {}),
    ...(interceptors ? { interceptors } : {}),
    ...(traced ? { sinks: traced.sinks } : {}),
    ...(opts.dataConverter ? { dataConverter: opts.dataConverter } : {}),
    ...(opts.maxCachedWorkflows === undefined ? {} : { maxCachedWorkflows: opts.maxCachedWorkflows }),
    ...(opts.debugMode ? { debugMode: true } : {}),
    shutdownForceTime: opts.shutdownForceTimeMs ?? DEFAULT_SHUTDOWN_FORCE_TIME_MS,
  });
  await publishCatalog(opts.deps.pool, catalogOf(opts));
  return worker;
}
