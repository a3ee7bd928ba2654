import { Client } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { NativeConnection, Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { timestampMs } from '../histories';
import { median, round } from '../stats';

const T = temporal.api.enums.v1.EventType;

/** `temporal_floor_ms`: the p50 of a bare workflow's start → its first activity running, plain and eager. */
export interface TemporalFloor {
  start_to_activity: number;
  eager_start_to_activity: number;
  /** Plain starts, from their histories: workflow started → its first task started, and that task's worker time. */
  first_task_queued: number;
  first_task_worker: number;
  /** Plain starts: the first activity's started event → its function running on the worker. */
  activity_dispatch: number;
  /**
   * One tool hop of a bare workflow (activity, activity, activity in turn, each returning at once): the model's
   * activity returning → the tool's activity → the next model activity running. Two workflow tasks and two activity
   * dispatches: what Temporal alone costs per extra hop.
   */
  hop: number;
  /** The same with the tool's activity a local activity: one workflow task and one dispatch per hop. */
  hop_local_tool: number;
  turns: number;
}

const QUEUE = 'bench-floor';
/** Tool hops of each floorHops workflow. */
const HOPS = 3;

function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * What Temporal itself costs before a turn's model call on this machine and dev server, with none of turnflow's
 * work: `turns` workflows of one activity, one at a time, started by a client → the activity running on a worker of
 * the SDK's defaults but the product's autoscaling pollers (its own workflow thread, eager activity dispatch as the
 * dev server is configured); then the
 * same with eager workflow start (the worker shares the client's connection, so the start's response carries the
 * first workflow task). No design that starts a workflow before the model's request can go below these.
 */
export async function temporalFloor(address: string, turns: number): Promise<TemporalFloor> {
  const reachedAt = new Map<string, number>();
  /** Each floorHops step's entry and return, by workflow id. */
  const steps = new Map<string, { enter: number; exit: number }[]>();
  const connection = await NativeConnection.connect({ address });
  try {
    const step = () => {
      const id = Context.current().info.workflowExecution?.workflowId ?? '';
      const enter = now();
      const list = steps.get(id) ?? [];
      list.push({ enter, exit: now() });
      steps.set(id, list);
      return Promise.resolve();
    };
    const worker = await Worker.create({
      connection,
      taskQueue: QUEUE,
      workflowsPath: require.resolve('./workflow'),
      // As the product's worker polls (worker/create-worker.ts): the SDK's fixed pollers queue a new workflow's first
      // task for longer here.
      workflowTaskPollerBehavior: { type: 'autoscaling' },
      activityTaskPollerBehavior: { type: 'autoscaling' },
      activities: {
        reached: () => {
          reachedAt.set(Context.current().info.workflowExecution?.workflowId ?? '', now());
          return Promise.resolve();
        },
        step,
        localStep: step,
      },
    });
    const client = new Client({ connection });
    const queued: number[] = [];
    const task: number[] = [];
    const dispatch: number[] = [];
    return await worker.runUntil(async () => {
      const run = async (eager: boolean, n: number): Promise<number[]> => {
        const out: number[] = [];
        for (let i = 0; i < n; i++) {
          const workflowId = `floor-${eager ? 'eager' : 'plain'}-${Date.now()}-${i}`;
          const startedAt = now();
          const handle = await client.workflow.start('floorTurn', {
            workflowId,
            taskQueue: QUEUE,
            ...(eager ? { requestEagerStart: true } : {}),
          });
          await handle.result();
          out.push(reachedAt.get(workflowId)! - startedAt);
          if (!eager) {
            const events = (await handle.fetchHistory()).events ?? [];
            const at = (type: temporal.api.enums.v1.EventType) =>
              timestampMs(events.find((e) => e.eventType === type)?.eventTime);
            queued.push(at(T.EVENT_TYPE_WORKFLOW_TASK_STARTED) - at(T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED));
            task.push(at(T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) - at(T.EVENT_TYPE_WORKFLOW_TASK_STARTED));
            dispatch.push(reachedAt.get(workflowId)! - at(T.EVENT_TYPE_ACTIVITY_TASK_STARTED));
          }
        }
        return out;
      };
      // Warm: the worker's first tasks load its workflow code.
      await run(false, 3);
      await run(true, 3);
      queued.length = 0;
      task.length = 0;
      dispatch.length = 0;
      const plain = await run(false, turns);
      const eager = await run(true, turns);
      const hopsOf = async (workflow: 'floorHops' | 'floorLocalHops'): Promise<number[]> => {
        const hops: number[] = [];
        for (let i = 0; i < Math.max(3, Math.round(turns / 4)); i++) {
          const workflowId = `${workflow}-${Date.now()}-${i}`;
          await client.workflow.execute(workflow, { workflowId, taskQueue: QUEUE, args: [HOPS] });
          // Steps 0, 2, 4 … are the model's: a hop runs from one's return to the next one's start.
          const taken = steps.get(workflowId) ?? [];
          for (let h = 0; h < HOPS; h++) hops.push(taken[2 * h + 2]!.enter - taken[2 * h]!.exit);
        }
        return hops;
      };
      const hops = await hopsOf('floorHops');
      const localHops = await hopsOf('floorLocalHops');
      return {
        start_to_activity: round(median(plain)),
        eager_start_to_activity: round(median(eager)),
        first_task_queued: round(median(queued)),
        first_task_worker: round(median(task)),
        activity_dispatch: round(median(dispatch)),
        hop: round(median(hops)),
        hop_local_tool: round(median(localHops)),
        turns,
      };
    });
  } finally {
    await connection.close();
  }
}
