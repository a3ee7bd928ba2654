import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import type { Logger } from 'pino';

/** The `type` of the failure a lost worker's activities are failed with; retryable, like the timeout it replaces. */
export const WORKER_LOST = 'worker.lost';

/** The workflow type of a turn (`workflows/chat-turn.ts`'s `chatTurn`, as `client/start-turn.ts` starts it). */
const CHAT_TURN_WORKFLOW = 'chatTurn';
/** The workflow type of a conversation (`workflows/conversation.ts`'s `conversation`), the turns' parent. */
const CONVERSATION_WORKFLOW = 'conversation';
/** Events read back from a history's end to find the worker of its last workflow task. */
const TAIL_EVENTS = 16;
/** The activities of a turn that run on a worker for long and heartbeat: the LLM stream and the tool calls. */
const HEARTBEATING_ACTIVITIES = new Set(['turnflow.streamCompletion', 'turnflow.executeTool']);
const STARTED = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
/** How soon a lost worker's activity is retried, whatever its retry policy's interval (`nextRetryDelay`). */
const LOST_RETRY_DELAY_MS = 50;
/** Heartbeat timeout of both activity types (`workflows/chat-turn.ts`), when the server does not report it. */
const DEFAULT_HEARTBEAT_TIMEOUT_MS = 3_000;

/** Options of {@link reapLostWorker}. */
export interface ReapOptions {
  client: Client;
  /** Only turns on this task queue are looked at (the lost worker served it, as this one does). */
  taskQueue: string;
  /** The lost worker's Temporal identity. */
  lost: string;
  logger: Logger;
  /**
   * An activity is failed only once the server heard nothing from it (heartbeat, else start) for this long. A live
   * worker heartbeats every second, so this keeps a peer whose lease vanished while it lives (a Postgres restart drops
   * every lease) from having its activities failed. @default 1200
   */
  minSilenceMs?: number;
  /** Turns described at once. @default 8 */
  concurrency?: number;
  /** The clock the server's timestamps are compared with. @default Date.now */
  now?: () => number;
}

/** One activity {@link reapLostWorker} failed. */
export interface ReapedActivity {
  workflowId: string;
  runId: string;
  activityId: string;
  activityType: string;
  attempt: number;
}

/**
 * Fails every activity of a running turn that the lost worker had started, so Temporal retries it at once (the
 * failure's `nextRetryDelay`, whatever the activity's retry interval) instead of waiting for its heartbeat timeout.
 * Each is failed by id with a retryable {@link WORKER_LOST} `ApplicationFailure`: for the turn it is the same as the
 * heartbeat timeout it pre-empts (an attempt spent, the retry policy's attempts apply, nothing recorded against the LLM hop's provider-failure budget, since no activity code runs).
 * An activity heard from less than {@link ReapOptions.minSilenceMs} ago is described again once that has passed.
 *
 * Every running turn and conversation whose last workflow task the lost worker completed has its sticky queue reset
 * too: its next workflow task (the retried call's result, a child's end, a new message) would otherwise wait out the
 * sticky schedule-to-start timeout on the dead worker's queue before any worker may take it.
 */
export async function reapLostWorker(opts: ReapOptions): Promise<ReapedActivity[]> {
  const now = opts.now ?? Date.now;
  const minSilenceMs = opts.minSilenceMs ?? 1_200;
  const reaped: ReapedActivity[] = [];
  const running = await runningWorkflows(opts.client, opts.taskQueue);
  // Beside the activities, not before them: a failed activity is what the next delta waits for.
  const sticky = forEachLimit(running, opts.concurrency ?? 8, async (execution) => {
    if ((await lastWorkflowTaskWorker(opts.client, execution)) === opts.lost) await resetStickiness(opts, execution);
  });
  let turns = running.filter((execution) => execution.type === CHAT_TURN_WORKFLOW);
  // A few rounds: each waits for the youngest silence left to reach minSilenceMs; the heartbeat timeout (3 s) ends
  // the matter long before a fourth round would.
  for (let round = 0; round < 3 && turns.length > 0; round += 1) {
    const again = new Map<string, { execution: Execution; waitMs: number }>();
    await forEachLimit(turns, opts.concurrency ?? 8, async (execution) => {
      const pending = await describePending(opts.client, execution);
      for (const activity of pending.filter((a) => isLostWorkersActivity(a, opts.lost))) {
        const silentMs = now() - (optionalTsToMs(activity.lastHeartbeatTime ?? activity.lastStartedTime) ?? now());
        if (silentMs < minSilenceMs) {
          const waitMs = minSilenceMs - silentMs;
          const known = again.get(execution.runId);
          again.set(execution.runId, { execution, waitMs: Math.min(waitMs, known?.waitMs ?? waitMs) });
          continue;
        }
        const failed = await failLost(opts, execution, activity, silentMs);
        if (failed) reaped.push(failed);
      }
    });
    if (again.size === 0) break;
    await sleep(Math.min(...[...again.values()].map((a) => a.waitMs)) + 20);
    turns = [...again.values()].map((a) => a.execution);
  }
  await sticky;
  return reaped;
}

interface Execution {
  workflowId: string;
  runId: string;
  type: string;
}

/**
 * Fails the current attempt of `activity` by id, right after the describe that found it on the lost worker.
 *
 * Failing by id fails whatever attempt is current when the request lands, so it must land before another attempt can
 * have started. The attempt the describe saw only ends by its heartbeat timeout (its worker is dead), at
 * `last heartbeat + heartbeatTimeout`, and the next one starts no sooner than its retry delay after that; a fail
 * landing in between finds no started attempt and is refused (NotFound), which is ignored. So the fail is sent at
 * once, and only while more than a second is left before that earliest next start: one RPC never takes that long. A
 * survivor that noticed the loss late still fails a call whose retry waits long (a tool retried after minutes).
 */
async function failLost(
  opts: ReapOptions,
  execution: Execution,
  activity: temporal.api.workflow.v1.IPendingActivityInfo,
  silentMs: number,
): Promise<ReapedActivity | undefined> {
  const activityId = activity.activityId ?? '';
  const activityType = activity.activityType?.name ?? '';
  const timeoutMs = optionalTsToMs(activity.activityOptions?.heartbeatTimeout) || DEFAULT_HEARTBEAT_TIMEOUT_MS;
  const attempt = activity.attempt ?? 0;
  const where = { workflowId: execution.workflowId, activityId, activityType, attempt, lost: opts.lost };
  if (timeoutMs + retryDelayMs(activity) - silentMs < 1_000) {
    opts.logger.info({ ...where, silentMs }, 'lost worker: its heartbeat timeout is about to retry the activity');
    return undefined;
  }
  try {
    await opts.client.activity.fail(
      { workflowId: execution.workflowId, runId: execution.runId, activityId },
      // The message may reach the model (a tool call whose retries ran out): no host names in it. Retried at once,
      // not after the activity's backoff: the call did not fail, its worker went away (a tool's 1 s first interval
      // was most of what a lost tool call still waited).
      ApplicationFailure.create({
        message: 'the worker running this activity was lost',
        type: WORKER_LOST,
        details: [{ worker: opts.lost }],
        nextRetryDelay: LOST_RETRY_DELAY_MS,
      }),
    );
  } catch (err: unknown) {
    opts.logger.info({ ...where, err: err instanceof Error ? err.message : String(err) }, 'lost worker: fail refused');
    return undefined;
  }
  opts.logger.warn({ ...where, silentMs }, 'lost worker: activity failed for an immediate retry');
  return { workflowId: execution.workflowId, runId: execution.runId, activityId, activityType, attempt };
}

/**
 * The least time between a heartbeat timeout of `activity`'s current attempt and its next attempt: its retry policy's
 * backoff after that attempt (Temporal's defaults for what the policy leaves out); 0 when the server did not report the
 * policy, which leaves only the heartbeat timeout.
 */
function retryDelayMs(activity: temporal.api.workflow.v1.IPendingActivityInfo): number {
  const policy = activity.activityOptions?.retryPolicy;
  if (!policy) return 0;
  const initialMs = optionalTsToMs(policy.initialInterval) || 1_000;
  const coefficient = policy.backoffCoefficient || 2;
  const maximumMs = optionalTsToMs(policy.maximumInterval) || 100 * initialMs;
  return Math.min(initialMs * coefficient ** Math.max(0, (activity.attempt ?? 1) - 1), maximumMs);
}

async function resetStickiness(opts: ReapOptions, execution: Execution): Promise<void> {
  try {
    await opts.client.workflowService.resetStickyTaskQueue({
      namespace: opts.client.options.namespace,
      execution: { workflowId: execution.workflowId, runId: execution.runId },
    });
  } catch (err: unknown) {
    opts.logger.info(
      { workflowId: execution.workflowId, err: err instanceof Error ? err.message : String(err) },
      'lost worker: sticky queue not reset',
    );
  }
}

function isLostWorkersActivity(activity: temporal.api.workflow.v1.IPendingActivityInfo, lost: string): boolean {
  return (
    activity.state === STARTED &&
    activity.lastWorkerIdentity === lost &&
    HEARTBEATING_ACTIVITIES.has(activity.activityType?.name ?? '')
  );
}

/** The running turns and conversations of `taskQueue`, from visibility. */
async function runningWorkflows(client: Client, taskQueue: string): Promise<Execution[]> {
  const found: Execution[] = [];
  const query =
    `(WorkflowType = '${CHAT_TURN_WORKFLOW}' OR WorkflowType = '${CONVERSATION_WORKFLOW}') ` +
    `AND ExecutionStatus = 'Running'`;
  for await (const info of client.workflow.list({ query }) as AsyncIterable<WorkflowExecutionInfo>) {
    if (info.taskQueue === taskQueue) found.push({ workflowId: info.workflowId, runId: info.runId, type: info.type });
  }
  return found;
}

/**
 * The identity of the worker that took the workflow's last workflow task (read from the end of its history), whose
 * sticky queue its next task goes to; undefined when the tail holds none or cannot be read.
 */
async function lastWorkflowTaskWorker(client: Client, execution: Execution): Promise<string | undefined> {
  try {
    const { history } = await client.workflowService.getWorkflowExecutionHistoryReverse({
      namespace: client.options.namespace,
      execution: { workflowId: execution.workflowId, runId: execution.runId },
      maximumPageSize: TAIL_EVENTS,
    });
    for (const event of history?.events ?? []) {
      const identity =
        event.workflowTaskCompletedEventAttributes?.identity ?? event.workflowTaskStartedEventAttributes?.identity;
      if (identity) return identity;
    }
  } catch {
    // Closed meanwhile, or the server is away: the sticky timeout still applies.
  }
  return undefined;
}

/** The pending activities of a turn; none when it closed meanwhile (or cannot be described now). */
async function describePending(
  client: Client,
  execution: Execution,
): Promise<temporal.api.workflow.v1.IPendingActivityInfo[]> {
  try {
    const description = await client.workflow.getHandle(execution.workflowId, execution.runId).describe();
    return description.raw.pendingActivities ?? [];
  } catch {
    return [];
  }
}

/** Runs `fn` over `items`, at most `limit` at once. */
async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
