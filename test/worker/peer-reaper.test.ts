import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type pg from 'pg';
import pino from 'pino';
import { AnswerAssembler, TurnEvent } from '../../common';
import { startOrderedTurn, startTurn } from '../../client';
import { conversationWorkflowIdFor } from '../../common';
import { createPool, migrate } from '../../db';
import { throwawayPostgres, type ThrowawayPostgres } from '../../dev/throwaway-postgres';
import { startScriptedLlm, type ScriptedLlm } from '../../scripted-llm';
import { identityPid, reapLostWorker, WORKER_LOST } from '../../worker/peers';
import { spawnWorkerProcess, testEnv, uniqueId, uniqueTaskQueue, type WorkerProcess } from '../support';
import { storedEvents } from '../turn/harness';
import { holdAttempts } from './hold-attempts';

const MODEL = 'scripted-model';
const STARTED = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
const HOLDING_WORKER = path.join(__dirname, 'holding-worker.ts');

/** What one activity attempt that started looked like in a finished history. */
interface StartedAttempt {
  type: string;
  attempt: number;
  /** The `type` of the previous attempt's failure (an ApplicationFailure's), or the kind of timeout. */
  lastFailure: string | null;
}

/** Workflow tasks that timed out (a sticky task left on the dead worker's queue, a task it held when it died). */
function timedOutWorkflowTasks(history: temporal.api.history.v1.IHistory): number {
  return (history.events ?? []).filter((e) => e.workflowTaskTimedOutEventAttributes).length;
}

/** The started attempts a history records (the last attempt of each activity, with the failure before it). */
function startedAttempts(history: temporal.api.history.v1.IHistory): StartedAttempt[] {
  const types = new Map<string, string>();
  const started: StartedAttempt[] = [];
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) types.set(String(event.eventId), scheduled.activityType?.name ?? '');
    const start = event.activityTaskStartedEventAttributes;
    if (start) {
      const failure = start.lastFailure;
      started.push({
        type: types.get(String(start.scheduledEventId)) ?? '',
        attempt: start.attempt ?? 0,
        lastFailure: failure
          ? (failure.applicationFailureInfo?.type ??
            (failure.timeoutFailureInfo ? `timeout:${String(failure.timeoutFailureInfo.timeoutType)}` : 'other'))
          : null,
      });
    }
  }
  return started;
}

describe('a surviving worker fails a lost worker’s activities for an immediate retry', function () {
  this.timeout(240_000);
  let llm: ScriptedLlm;
  let workers: WorkerProcess[] = [];
  let runsDir: string;
  let pgCluster: ThrowawayPostgres | undefined;

  beforeEach(async () => {
    llm = await startScriptedLlm({ port: 0 });
    runsDir = await mkdtemp(path.join(os.tmpdir(), 'turnflow-reaper-'));
  });
  afterEach(async () => {
    for (const worker of workers) await worker.kill();
    workers = [];
    await llm.close();
    await pgCluster?.destroy();
    pgCluster = undefined;
    await rm(runsDir, { recursive: true, force: true });
  });

  /** `count` worker processes running the `hold` tool on a fresh task queue, up and polling. */
  async function holdingWorkers(count: number, databaseUrl: string) {
    const env = await testEnv();
    const taskQueue = uniqueTaskQueue('reaper');
    const runsFile = path.join(runsDir, `${taskQueue}.runs`);
    const spawn = () =>
      spawnWorkerProcess({
        temporalAddress: env.temporal.address,
        databaseUrl,
        taskQueue,
        llmBaseUrl: llm.baseURL,
        model: MODEL,
        script: HOLDING_WORKER,
        extra: { LOG_LEVEL: 'info', RUNS_FILE: runsFile },
      });
    workers = Array.from({ length: count }, spawn);
    await Promise.all(workers.map((w) => w.waitForOutput(/turnflow worker running/, 120_000)));
    return { env, taskQueue, runsFile };
  }

  /** Two worker processes on a fresh task queue, each having seen the other's lease. */
  async function twoWorkers(databaseUrl: string) {
    const started = await holdingWorkers(2, databaseUrl);
    await Promise.all(workers.map((w) => w.waitForOutput(/worker lease: peer seen/, 30_000)));
    return started;
  }

  /** A turn whose model calls `hold` once, then answers; resolves once the call's first attempt holds. */
  async function holdingTurn(pool: pg.Pool, taskQueue: string, runsFile: string) {
    const env = await testEnv();
    llm.enqueue(
      { steps: [{ toolCalls: [{ id: 'call_hold', name: 'hold', arguments: '{}' }] }] },
      { steps: [{ text: 'Held, then answered.' }] },
    );
    const turn = await startTurn(
      { temporal: env.temporal.client, pool },
      { conversationId: uniqueId('conv'), requestId: uniqueId('req'), message: 'hold on' },
      { taskQueue },
    );
    await until(() => holdAttempts(runsFile).length === 1);
    return turn;
  }

  /** The worker process that runs `activityType` of the turn now. */
  async function runningOn(handle: WorkflowHandle, activityType: string): Promise<WorkerProcess> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { raw } = await handle.describe();
      const activity = raw.pendingActivities?.find((a) => a.activityType?.name === activityType && a.state === STARTED);
      const pid = activity?.lastWorkerIdentity ? identityPid(activity.lastWorkerIdentity) : undefined;
      const worker = workers.find((w) => w.child.pid === pid);
      if (worker) return worker;
      if (Date.now() > deadline) throw new Error(`no worker runs ${activityType}: ${JSON.stringify(activity)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('retries a stream whose worker was killed as worker.lost, not after its heartbeat timeout', async () => {
    const env = await testEnv();
    const { taskQueue } = await twoWorkers(env.databaseUrl);
    llm.enqueue(
      { steps: [{ text: 'Half of an answer that the kill cuts' }, { waitFor: 'kill' }, { text: ' off.' }] },
      { steps: [{ text: 'The whole answer, streamed again.' }] },
    );
    const turn = await startTurn(
      { temporal: env.temporal.client, pool: env.pool },
      { conversationId: uniqueId('conv'), requestId: uniqueId('req'), message: 'survive a kill' },
      { taskQueue },
    );
    await llm.gateReached('kill');
    const victim = await runningOn(turn.handle, 'turnflow.streamCompletion');
    await victim.kill();

    const result = await turn.handle.result();
    assert.equal(result.status, 'completed');
    const history = await turn.handle.fetchHistory();
    assert.equal(timedOutWorkflowTasks(history), 0, 'the sticky queue was reset');
    const llmAttempts = startedAttempts(history).filter((a) => a.type === 'turnflow.streamCompletion');
    assert.deepEqual(llmAttempts, [{ type: 'turnflow.streamCompletion', attempt: 2, lastFailure: WORKER_LOST }]);
    // The client still reads exactly the final text: the retry announced its reset.
    const answer = new AnswerAssembler();
    (await storedEvents(env, turn.turnId)).forEach((e) => answer.apply(TurnEvent.parse(e)));
    assert.equal(answer.text, 'The whole answer, streamed again.');
    const survivor = workers.find((w) => w !== victim)!;
    assert.match(survivor.output(), /lost worker: activity failed for an immediate retry/);
  });

  it('retries a tool call whose worker was killed as worker.lost', async () => {
    const env = await testEnv();
    const { taskQueue, runsFile } = await twoWorkers(env.databaseUrl);
    const turn = await holdingTurn(env.pool, taskQueue, runsFile);
    const victim = await runningOn(turn.handle, 'turnflow.executeTool');
    await victim.kill();

    const result = await turn.handle.result();
    assert.equal(result.status, 'completed');
    const history = await turn.handle.fetchHistory();
    assert.equal(timedOutWorkflowTasks(history), 0, 'the sticky queue was reset');
    const toolAttempts = startedAttempts(history).filter((a) => a.type === 'turnflow.executeTool');
    assert.deepEqual(toolAttempts, [{ type: 'turnflow.executeTool', attempt: 2, lastFailure: WORKER_LOST }]);
    const keys = holdAttempts(runsFile);
    assert.equal(keys.length, 2, 'the call ran once more, on the survivor');
    assert.equal(keys[0], keys[1], 'under the same idempotency key');
    const { rows } = await env.pool.query<{ content: string }>(
      `SELECT content FROM messages WHERE turn_id = $1 AND kind = 'tool'`,
      [turn.turnId],
    );
    assert.deepEqual(
      rows.map((r) => r.content),
      ['held once, answered now'],
    );
  });

  it('hands a conversation whose worker was killed between two turns to the survivor without a sticky timeout', async () => {
    const env = await testEnv();
    const { taskQueue } = await twoWorkers(env.databaseUrl);
    llm.respond(() => ({ steps: [{ text: 'An answer.' }] }));
    const conversationId = uniqueId('conv');
    const send = (message: string) =>
      startOrderedTurn(
        { temporal: env.temporal.client, pool: env.pool },
        { conversationId, requestId: uniqueId('req'), message, doubleTexting: 'enqueue' },
        // Through the conversation's workflow, whose handoff this test watches (a direct start would not start it).
        { taskQueue, startTimeoutMs: 60_000, directStart: false },
      );
    const conversation = env.temporal.client.workflow.getHandle(conversationWorkflowIdFor('default', conversationId));
    const first = await send('first');
    await until(async () => (await turnStatus(env.pool, first.turnId)) === 'completed');
    // The conversation applied the finished turn: its last workflow task, done, names the worker that holds it.
    let holder: WorkerProcess | undefined;
    await until(async () => {
      const { raw } = await conversation.describe();
      if (raw.pendingWorkflowTask || (raw.pendingChildren?.length ?? 0) > 0) return false;
      const { history } = await env.temporal.client.workflowService.getWorkflowExecutionHistoryReverse({
        namespace: 'default',
        execution: { workflowId: conversation.workflowId },
        maximumPageSize: 5,
      });
      const identity = history?.events?.find((e) => e.workflowTaskCompletedEventAttributes)
        ?.workflowTaskCompletedEventAttributes?.identity;
      holder = workers.find((w) => identity && w.child.pid === identityPid(identity));
      return holder !== undefined;
    });
    await holder!.kill();
    const survivor = workers.find((w) => w !== holder)!;
    await survivor.waitForOutput(/lost worker reaped/, 30_000);

    const second = await send('second');
    await until(async () => (await turnStatus(env.pool, second.turnId)) === 'completed');
    assert.equal(timedOutWorkflowTasks(await conversation.fetchHistory()), 0, 'the sticky queue was reset');
  });

  /**
   * One worker process running a turn's activity, and a reap of that worker as if it were lost, by a survivor whose
   * clock reads `lateByMs` ahead: what a survivor sees when it noticed the loss that much after the last heartbeat.
   */
  async function reapLate(activityType: string, lateByMs: number, taskQueue: string, turn: { handle: WorkflowHandle }) {
    const env = await testEnv();
    const worker = await runningOn(turn.handle, activityType);
    const { raw } = await turn.handle.describe();
    const lost = raw.pendingActivities?.find((a) => a.activityType?.name === activityType)?.lastWorkerIdentity;
    assert.ok(lost && identityPid(lost) === worker.child.pid, `the activity names its worker: ${lost}`);
    return reapLostWorker({
      client: env.temporal.client,
      taskQueue,
      lost,
      logger: pino({ level: 'silent' }),
      now: () => Date.now() + lateByMs,
    });
  }

  it('still fails a lost tool call it noticed late, when its retry would wait long after the heartbeat timeout', async () => {
    const { env, taskQueue, runsFile } = await holdingWorkers(1, (await testEnv()).databaseUrl);
    const turn = await holdingTurn(env.pool, taskQueue, runsFile);
    // 2.2 s + up to the 1 s heartbeat throttle: past the last second of the 3 s heartbeat timeout, but `hold` is
    // retried only 10 minutes after a timeout, so no other attempt can start before the fail lands.
    const reaped = await reapLate('turnflow.executeTool', 2_200, taskQueue, turn);
    assert.deepEqual(
      reaped.map((r) => [r.activityType, r.attempt]),
      [['turnflow.executeTool', 1]],
    );
    assert.equal((await turn.handle.result()).status, 'completed');
    const toolAttempts = startedAttempts(await turn.handle.fetchHistory()).filter(
      (a) => a.type === 'turnflow.executeTool',
    );
    assert.deepEqual(toolAttempts, [{ type: 'turnflow.executeTool', attempt: 2, lastFailure: WORKER_LOST }]);
  });

  it('fails no stream it noticed too late: its next attempt may start 200 ms after the heartbeat timeout', async () => {
    const { env, taskQueue } = await holdingWorkers(1, (await testEnv()).databaseUrl);
    llm.enqueue({ steps: [{ text: 'Half of an answer' }, { waitFor: 'late' }, { text: ', then the rest.' }] });
    const turn = await startTurn(
      { temporal: env.temporal.client, pool: env.pool },
      { conversationId: uniqueId('conv'), requestId: uniqueId('req'), message: 'stream on' },
      { taskQueue },
    );
    await llm.gateReached('late');
    // 2.3–3.3 s of silence: less than a second before the attempt's heartbeat timeout plus its 200 ms retry delay.
    const reaped = await reapLate('turnflow.streamCompletion', 2_300, taskQueue, turn);
    assert.deepEqual(reaped, []);
    llm.release('late');
    assert.equal((await turn.handle.result()).status, 'completed');
    const streams = startedAttempts(await turn.handle.fetchHistory()).filter(
      (a) => a.type === 'turnflow.streamCompletion',
    );
    assert.deepEqual(streams, [{ type: 'turnflow.streamCompletion', attempt: 1, lastFailure: null }]);
  });

  it('fails no activity of live workers when Postgres restarts, and notices a loss again afterwards', async () => {
    pgCluster = await throwawayPostgres();
    const cluster = pgCluster;
    await migrate(cluster.url);
    const pool = createPool({ connectionString: cluster.url, max: 3 }, () => undefined);
    try {
      const { taskQueue, runsFile } = await twoWorkers(cluster.url);
      const turn = await holdingTurn(pool, taskQueue, runsFile);
      const seenBefore = workers.map((w) => count(w.output(), /worker lease: peer seen/));

      // Every lease drops with Postgres; both workers are alive and keep heartbeating the held tool call.
      await cluster.stop();
      await cluster.start();
      await until(() => workers.every((w, i) => count(w.output(), /worker lease: peer seen/) > seenBefore[i]!), 60_000);
      // Longer than the reaper's silence guard and the heartbeat timeout: anything it was going to do is done.
      await new Promise((r) => setTimeout(r, 4_000));
      const { raw } = await turn.handle.describe();
      const tool = raw.pendingActivities?.find((a) => a.activityType?.name === 'turnflow.executeTool');
      assert.equal(tool?.attempt, 1, `the held call was not retried: ${JSON.stringify(tool)}`);
      for (const worker of workers) assert.doesNotMatch(worker.output(), /activity failed for an immediate retry/);

      // The leases came back: a kill now is noticed as before.
      const victim = await runningOn(turn.handle, 'turnflow.executeTool');
      await victim.kill();
      const result = await turn.handle.result();
      assert.equal(result.status, 'completed');
      const toolAttempts = startedAttempts(await turn.handle.fetchHistory()).filter(
        (a) => a.type === 'turnflow.executeTool',
      );
      assert.deepEqual(toolAttempts, [{ type: 'turnflow.executeTool', attempt: 2, lastFailure: WORKER_LOST }]);
    } finally {
      await pool.end();
    }
  });
});

async function turnStatus(pool: pg.Pool, turnId: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ status: string }>('SELECT status FROM turns WHERE id = $1', [turnId]);
  return rows[0]?.status;
}

function count(text: string, pattern: RegExp): number {
  return text.split('\n').filter((line) => pattern.test(line)).length;
}

/** Resolves once `check` holds (polled every 50 ms). */
async function until(check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the condition never held');
    await new Promise((r) => setTimeout(r, 50));
  }
}
