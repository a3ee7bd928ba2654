import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { TASK_QUEUE } from '../common';
import { workerActivities, type ActivityDeps } from '../activities';
import { publishCatalog } from '../client/catalog';
import type { ToolRegistry } from '../activities/tools';
import { ConfigError } from '../config';

/** What {@link createTurnWorker} needs besides the activities' resources. */
export interface TurnWorkerOptions {
  connection: NativeConnection;
  /** @default 'default' */
  namespace?: string;
  /** @default TASK_QUEUE */
  taskQueue?: string;
  deps: ActivityDeps;
  /** A prebuilt workflow bundle (tests build it once); default: bundle `workflows/` now. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /**
   * Activities (LLM streams, tools) this worker runs at once. They wait on the network, not the CPU, and no longer
   * hold a database connection each, so the default is high: a worker streams this many turns at once.
   * @default DEFAULT_MAX_CONCURRENT_ACTIVITIES
   */
  maxConcurrentActivityTaskExecutions?: number;
  /** Temporal worker interceptors (e.g. to observe activities); none by default. */
  interceptors?: WorkerOptions['interceptors'];
}

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

/** Path of the workflows module, for bundling. */
export const WORKFLOWS_PATH = require.resolve('../workflows');

/**
 * A worker that runs chat turns: the `chatTurn` workflow and its activities bound to `deps`. Heartbeats are
 * sent at least every second, so a stop request reaches a streaming activity within about a second. Publishes
 * what it serves (models, tools) for its task queue, so starts asking for anything else are refused up front.
 *
 * Pollers scale with the backlog, so a burst of starts reaches free slots at once instead of ten at a time.
 */
export async function createTurnWorker(opts: TurnWorkerOptions): Promise<Worker> {
  checkApprovalTools(opts.deps.approvalTools ?? [], opts.deps.tools);
  const taskQueue = opts.taskQueue ?? TASK_QUEUE;
  const worker = await Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: workerActivities(opts.deps),
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions ?? DEFAULT_MAX_CONCURRENT_ACTIVITIES,
    workflowTaskPollerBehavior: { type: 'autoscaling' },
    activityTaskPollerBehavior: { type: 'autoscaling' },
    maxHeartbeatThrottleInterval: '1 second',
    defaultHeartbeatThrottleInterval: '1 second',
    ...(opts.interceptors ? { interceptors: opts.interceptors } : {}),
  });
  await publishCatalog(opts.deps.pool, {
    taskQueue,
    defaultModel: opts.deps.models.default,
    models: [...opts.deps.models.allowed],
    tools: [...opts.deps.tools.names],
  });
  return worker;
}
