import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import { workerActivities } from '../../activities';
import { TurnClient } from '../../client';
import type { ChatTurnResult } from '../../common';
import { cancelTurn } from '../../workflows';
import {
  finalMessage,
  IN_PROCESS_WORKFLOWS,
  storedEvents,
  turnHarness,
  workflowBundle,
  type TurnHarness,
} from './harness';

/**
 * A turn's end under races: the model refuses the request (a failure) while the caller stops the turn (a stop), and
 * the worker that stores the end dies. Which one the workflow sees first depends on the worker: the one that ran the
 * activity saw the failure alone, a fresh one (the first was lost) sees both in one activation, the stop first. Both
 * must end the turn the same way; an end stored by one path is never overwritten or doubled by the other, and a
 * reader always hears of it.
 */
describe('chatTurn: racing ends', function () {
  this.timeout(120_000);
  let h: TurnHarness;

  before(async () => {
    h = await turnHarness();
  });
  after(() => h.close());

  /** Polls the turn's history until `pred` holds for one of its events. */
  async function untilEvent(workflowId: string, what: string, pred: (e: Record<string, unknown>) => boolean) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
      if ((history.events ?? []).some((e) => pred(e as Record<string, unknown>))) return;
      if (Date.now() > deadline) throw new Error(`no ${what} in ${workflowId}'s history`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('fails a turn whose model refused the request when a stop reaches a fresh worker in the same activation', async () => {
    h.llm.enqueue({ steps: [], httpError: { status: 400 } });
    const turn = await h.start({ message: 'a request the provider refuses' });
    const connection = await NativeConnection.connect({ address: h.env.temporal.address });
    const bundle = await workflowBundle();
    const activities = workerActivities(h.deps());
    /** Runs workflow tasks (and local activities) only: the LLM activity waits for a worker that runs activities. */
    const workflowWorker = () =>
      Worker.create({
        connection,
        taskQueue: h.taskQueue,
        workflowBundle: bundle,
        activities,
        enableNonLocalActivities: false,
        debugMode: IN_PROCESS_WORKFLOWS,
      });
    try {
      // 1. The turn's first task schedules the LLM activity; nobody runs it yet.
      await (
        await workflowWorker()
      ).runUntil(() =>
        untilEvent(turn.turnId, 'scheduled LLM activity', (e) => e['activityTaskScheduledEventAttributes'] != null),
      );
      // 2. An activities-only worker runs it: the provider answers 400, the activity fails for good, and the
      //    workflow task that would see it waits for a workflow worker.
      await (
        await Worker.create({ connection, taskQueue: h.taskQueue, activities })
      ).runUntil(() =>
        untilEvent(turn.turnId, 'failed LLM activity', (e) => e['activityTaskFailedEventAttributes'] != null),
      );
      // 3. The caller stops the turn: the stop and the failure reach the next worker in one activation.
      await turn.handle.signal(cancelTurn, { interrupt: true, reason: 'a later message' });
      const err = await (
        await workflowWorker()
      ).runUntil(() =>
        turn.handle.result().then(
          () => undefined,
          (e: unknown) => e,
        ),
      );

      assert.ok(err instanceof WorkflowFailedError, `the turn fails (got ${String(err)})`);
      assert.ok(err.cause instanceof ActivityFailure);
      assert.ok(err.cause.cause instanceof ApplicationFailure);
      assert.equal(err.cause.cause.type, 'llm.bad_request');
    } finally {
      await connection.close();
    }
    const row = await h.env.pool.query<{ status: string }>(`SELECT status FROM turns WHERE id = $1`, [turn.turnId]);
    assert.equal(row.rows[0]?.status, 'failed');
    assert.deepEqual(await finalMessage(h.env, turn.turnId), [], 'a failed turn has no answer');
    const ends = (await storedEvents(h.env, turn.turnId)).filter((e) => e.type === 'error' || e.type === 'done');
    assert.deepEqual(
      ends.map((e) => [e.type, (e as { errorType?: string }).errorType]),
      [['error', 'llm.bad_request']],
    );
  });

  it("refuses to complete a failed turn, adding nothing, and never announces a failure after a turn's done", async () => {
    // A failed turn (the provider refuses it), then a completed one: one after the other, so each gets its script.
    const { failed, completed } = await h.withWorker(async () => {
      h.llm.enqueue({ steps: [], httpError: { status: 400 } });
      const failed = await h.start({ message: 'refused' });
      await failed.handle.result().catch(() => undefined);
      h.llm.enqueue({ steps: [{ text: 'All done.' }] });
      const completed = await h.start({ message: 'fine' });
      await completed.handle.result();
      return { failed, completed };
    });
    const activities = workerActivities(h.deps());
    const persistence = { persistDeltas: true, intervalMs: 200, minChars: 1024 };
    const env = new MockActivityEnvironment({ attempt: 3 }, { logger: new DefaultLogger('ERROR') });

    // The stop path of a replay reaching the failed turn: refused for good (a retry cannot change a stored end).
    const refusal = await env
      .run(activities['turnflow.completeTurn'], {
        turnId: failed.turnId,
        status: 'cancelled' as const,
        finishReason: 'interrupted',
        hops: 0,
        hopLimit: null,
        restateHop: false,
        persistence,
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(refusal instanceof ApplicationFailure, `refused (got ${String(refusal)})`);
    assert.equal(refusal.type, 'turn.already_failed');
    assert.equal(refusal.nonRetryable, true);
    assert.deepEqual(refusal.details, ['llm.bad_request']);
    assert.deepEqual(await finalMessage(h.env, failed.turnId), [], 'no answer is added to a failed turn');

    // The failure path of a replay reaching the completed turn: its end stands, and no `error` follows its `done`.
    await env.run(activities['turnflow.failTurn'], {
      turnId: completed.turnId,
      hop: 0,
      errorType: 'llm.server_error',
      message: 'a failure seen by a run that lost the race',
      persistence,
    });
    const row = await h.env.pool.query<{ status: string }>(`SELECT status FROM turns WHERE id = $1`, [
      completed.turnId,
    ]);
    assert.equal(row.rows[0]?.status, 'completed');

    for (const [turnId, end] of [
      [failed.turnId, 'error'],
      [completed.turnId, 'done'],
    ] as const) {
      const ends = (await storedEvents(h.env, turnId)).filter((e) => e.type === 'error' || e.type === 'done');
      assert.deepEqual(
        ends.map((e) => e.type),
        [end],
        `${turnId} has exactly its own end`,
      );
    }
  });

  /**
   * A finished turn whose `done` row is put back without a notification (what a writer lost between storing and
   * announcing leaves) while a reader, after the event before it, waits live; `then` runs after, and the reader's next
   * event (or `undefined` after 5 s) is returned.
   */
  async function endStoredSilently(
    answer: string,
    readerOpts: { rereadMs?: number },
    then: (turnId: string, result: ChatTurnResult) => Promise<void>,
  ) {
    h.llm.enqueue({ steps: [{ text: answer }] });
    const turn = await h.start({ message: answer });
    const result = await h.withWorker(() => turn.handle.result());
    const { rows } = await h.env.pool.query<{ cursor: string; prev: string }>(
      `DELETE FROM turn_events WHERE turn_id = $1 AND type = 'done' RETURNING *`,
      [turn.turnId],
    );
    const done = rows[0]!;
    const client = new TurnClient({ temporal: h.client, pool: h.env.pool, databaseUrl: h.env.databaseUrl });
    try {
      const reader = client.events(turn.turnId, { after: Number(done.prev), ...readerOpts });
      const next = reader.next();
      assert.equal(await Promise.race([next.then(() => 'read'), sleep(500).then(() => 'waiting')]), 'waiting');
      await h.env.pool.query(
        `INSERT INTO turn_events SELECT * FROM json_populate_record(null::turn_events, $1::json)`,
        [JSON.stringify(done)],
      );
      await then(turn.turnId, result);
      const heard = await Promise.race([next, sleep(5_000).then(() => undefined)]);
      await reader.return(undefined);
      return { heard: heard?.value, cursor: Number(done.cursor) };
    } finally {
      await client.close();
    }
  }

  it('tells a reader waiting live of an end stored by a writer that died before announcing it', async () => {
    const { heard, cursor } = await endStoredSilently('An answer whose end is announced late.', {}, (turnId, result) =>
      // The completion's retry finds its `done` stored: it stores nothing, and the reader must still hear of it.
      new MockActivityEnvironment({ attempt: 2 }, { logger: new DefaultLogger('ERROR') })
        .run(workerActivities(h.deps())['turnflow.completeTurn'], {
          turnId,
          status: result.status,
          finishReason: result.finishReason,
          hops: result.hops,
          hopLimit: null,
          restateHop: false,
          persistence: { persistDeltas: true, intervalMs: 200, minChars: 1024 },
        })
        .then(() => undefined),
    );
    assert.equal(heard?.type, 'done', 'the reader heard the end');
    assert.equal(heard.cursor, cursor);
  });

  it('brings a reader waiting live an event stored without any announcement, within its re-read interval', async () => {
    // No writer comes again to ring: only reading the stored stream again finds the end.
    const { heard } = await endStoredSilently('An answer whose end is never announced.', { rereadMs: 300 }, () =>
      Promise.resolve(),
    );
    assert.equal(heard?.type, 'done', 'the reader found the end by reading the stored stream again');
  });
});
