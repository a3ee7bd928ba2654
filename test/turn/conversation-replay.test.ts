import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { Rng } from '../../chaos/rng';
import {
  cancelInConversation,
  listConversationTurns,
  startOrderedTurn,
  TurnConflictError,
  type OrderedStart,
} from '../../client';
import { conversationWorkflowIdFor, DoubleTextingPolicy } from '../../common';
import type { ScriptInput } from '../../scripted-llm';
import { uniqueId } from '../support';
import { answerByMessage, waitForFinished } from './conversation-harness';
import { turnHarness, workflowBundle, type TurnHarness } from './harness';

const { EventType } = temporal.api.enums.v1;
type History = temporal.api.history.v1.IHistory;
const { WorkflowTaskFailedCause } = temporal.api.enums.v1;
const SERVER_RETRIES = new Set<number>([
  WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
  WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_UPDATE,
]);

/** Conversations driven at once per case, and the messages each one gets. */
const CONVERSATIONS = 6;
const MESSAGES = { min: 3, max: 6 };
const POLICIES = DoubleTextingPolicy.options;

/**
 * Determinism of the conversation workflow whatever the interleaving: random conversations (every double-texting
 * policy, cancels, tool rounds, continue-as-new every two turns, idle runs closing between messages) run on a worker
 * that either keeps workflows cached or replays every workflow task from its full history (what a worker does after
 * a crash or restart, and where the jobs of one activation — an update beside a child's completion — arrive in
 * another order than on a later replay). Every history then replays, and none holds a failed workflow task.
 */
describe('conversation replay across random interleavings', function () {
  this.timeout(300_000);
  let h: TurnHarness;
  const scripts: Record<string, ScriptInput> = {};

  before(async () => {
    h = await turnHarness();
    answerByMessage(h, scripts);
  });
  after(async () => {
    await h.close();
  });

  for (const [seed, cache, direct] of [
    [1, 2, false],
    [2, undefined, false],
    // Idle conversations' turns started directly, later messages adopting them (issue 17).
    [3, 2, true],
  ] as const) {
    // A cache of two workflows evicts all the time: most tasks replay the full history first, as after a restart.
    const mode = cache === undefined ? 'the sticky cache' : `a workflow cache of ${cache} (most tasks replay in full)`;
    const starts = direct ? ', idle conversations’ turns started directly' : '';
    it(`every history of ${CONVERSATIONS} random conversations replays, with ${mode}${starts}`, async () => {
      const histories: { workflowId: string; history: History }[] = [];
      await h.withWorker(
        async () => {
          const runs = await Promise.all(
            Array.from({ length: CONVERSATIONS }, (_, c) =>
              // Said at once: a failure here makes runUntil shut the worker down, which can take long.
              driveConversation(new Rng(seed, c), direct).catch((err: unknown) => {
                console.error(`conversation ${c} of seed ${seed} failed:`, err);
                throw err;
              }),
            ),
          );
          for (const run of runs) histories.push(...(await historiesOf(run)));
        },
        cache === undefined ? {} : { maxCachedWorkflows: cache },
      );

      const failedTasks = histories.flatMap(({ workflowId, history }) =>
        (history.events ?? [])
          .filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
          // The server refusing a completion because a signal or update arrived meanwhile is its protocol (the task
          // runs again with it), not a failure of our code.
          .filter((e) => !SERVER_RETRIES.has(e.workflowTaskFailedEventAttributes?.cause ?? 0))
          .map((e) => `${workflowId}: ${e.workflowTaskFailedEventAttributes?.failure?.message ?? '?'}`),
      );
      assert.deepEqual(failedTasks, [], 'no workflow task failed while the conversations ran');
      const conversationRuns = histories.filter((x) => x.workflowId.startsWith('conversation/')).length;
      assert.ok(conversationRuns > CONVERSATIONS, `some conversations continued as new (${conversationRuns} runs)`);
      if (direct) {
        const turnIds = histories.filter((x) => x.workflowId.startsWith('turn/')).map((x) => x.workflowId);
        const { rows } = await h.env.pool.query<{ direct: number; ordered: number }>(
          `SELECT count(*) FILTER (WHERE direct_input IS NOT NULL)::int AS direct,
                  count(*) FILTER (WHERE direct_input IS NULL)::int AS ordered
           FROM turns WHERE id = ANY($1)`,
          [turnIds],
        );
        assert.ok(
          rows[0]!.direct > 0 && rows[0]!.ordered > 0,
          `direct and ordered turns both ran: ${JSON.stringify(rows[0])}`,
        );
      }

      const failures: string[] = [];
      for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
        if (result.error) failures.push(`${result.workflowId}: ${String(result.error)}`);
      }
      assert.deepEqual(failures, [], `all ${histories.length} histories replay`);
    });
  }

  interface DrivenConversation {
    conversationId: string;
    turnIds: string[];
  }

  /** Sends random messages to a new conversation, cancels some, and waits until every turn of it has ended. */
  async function driveConversation(rng: Rng, direct: boolean): Promise<DrivenConversation> {
    const conversationId = uniqueId('replay');
    const started: OrderedStart[] = [];
    const count = rng.int(MESSAGES.min, MESSAGES.max);
    for (let k = 0; k < count; k++) {
      const message = `${conversationId} message ${k}`;
      scripts[message] = rng.chance(0.3)
        ? { steps: [{ toolCalls: [{ name: 'calculate', arguments: { expression: `${k}+1` } }], delayMs: 5 }] }
        : { steps: [{ text: `answer ${k} of ${conversationId}`, delayMs: rng.int(0, 20) }] };
      await sleep(rng.int(0, 150));
      const policy = rng.pick(POLICIES);
      try {
        started.push(
          await startOrderedTurn(
            { temporal: h.client, pool: h.env.pool },
            { conversationId, requestId: `r${k}`, message, doubleTexting: policy },
            // Continue as new every two turns; now and then close the run when idle between two messages.
            {
              taskQueue: h.taskQueue,
              startTimeoutMs: 60_000,
              conversation: { maxTurnsPerRun: 2, idleMs: rng.chance(0.3) ? 100 : 600_000 },
              directStart: direct,
            },
          ),
        );
      } catch (err: unknown) {
        if (!(err instanceof TurnConflictError)) throw err;
      }
      if (started.length > 0 && rng.chance(0.25)) {
        const turnId = rng.pick(started).requestTurnId;
        await within(60_000, conversationId, `the cancel of ${turnId}`, cancelInConversation(h.client, turnId));
      }
    }
    for (const s of started) await waitForFinished(h, s.requestTurnId, 120_000);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const turns = await within(
        30_000,
        conversationId,
        'the listing of its turns',
        listConversationTurns(h.client, 'default', conversationId),
      );
      if (turns.running === null && turns.queued.length === 0) break;
      assert.ok(Date.now() < deadline, `conversation ${conversationId} never went idle`);
      await sleep(100);
    }
    const turnIds = started.filter((s) => s.state !== 'steered').map((s) => s.requestTurnId);
    return { conversationId, turnIds };
  }

  /**
   * `work`, or a failure after `ms` that names what waited and shows where the conversation's workflow stands (its
   * pending workflow task and last events): a call to a workflow has no deadline of its own.
   */
  async function within<T>(ms: number, conversationId: string, what: string, work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        void conversationState(conversationId).then((state) =>
          reject(new Error(`${what} took over ${ms} ms; the conversation's workflow: ${state}`)),
        );
      }, ms);
    });
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function conversationState(conversationId: string): Promise<string> {
    try {
      const handle = h.client.workflow.getHandle(conversationWorkflowIdFor('default', conversationId));
      const { raw, status, runId } = await handle.describe();
      const history = await h.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
      const last = (history.events ?? []).slice(-12).map((e) => {
        const type = EventType[e.eventType ?? 0]?.replace('EVENT_TYPE_', '') ?? String(e.eventType);
        return `${String(e.eventId)} ${type}`;
      });
      return JSON.stringify({
        status: status.name,
        runId,
        pendingWorkflowTask: raw.pendingWorkflowTask ?? null,
        lastEvents: last,
      });
    } catch (err: unknown) {
      return `not described (${String(err)})`;
    }
  }

  /**
   * The run's history once its first workflow task has completed. A run just continued as new may have none yet:
   * the server holds its first task back for a moment when a workflow continues as new in quick succession, and its
   * history is then only `WorkflowExecutionStarted`, on which the SDK's replay worker waits for ever (issue 16: the
   * hang this test showed in CI). The worker is still running here, so the task comes.
   */
  async function withFirstTask(workflowId: string, runId: string): Promise<History> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const history = await h.client.workflow.getHandle(workflowId, runId).fetchHistory();
      const ran = (history.events ?? []).some((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
      if (ran) return history;
      assert.ok(Date.now() < deadline, `run ${runId} of ${workflowId} never completed a workflow task`);
      await sleep(50);
    }
  }

  /** Every run of the conversation's workflow (continued as new, or begun again after an idle close) and its turns. */
  async function historiesOf(run: DrivenConversation): Promise<{ workflowId: string; history: History }[]> {
    const out: { workflowId: string; history: History }[] = [];
    const workflowId = conversationWorkflowIdFor('default', run.conversationId);
    for await (const execution of h.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      out.push({ workflowId, history: await withFirstTask(workflowId, execution.runId) });
    }
    for (const turnId of run.turnIds) {
      const exists = await h.client.workflow
        .getHandle(turnId)
        .describe()
        .then(
          () => true,
          () => false,
        );
      // A turn cancelled while queued never ran: it has no workflow.
      if (exists) out.push({ workflowId: turnId, history: await h.client.workflow.getHandle(turnId).fetchHistory() });
    }
    return out;
  }
});
