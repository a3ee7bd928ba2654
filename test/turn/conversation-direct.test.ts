import assert from 'node:assert/strict';
import { Client, type WorkflowClientInterceptor } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createTurnWorker } from '../../worker/create-worker';
import {
  cancelInConversation,
  claimOrderedTurn,
  listConversationTurns,
  startOrderedTurn,
  TurnConflictError,
  TurnStartTimeoutError,
  type OrderedStart,
} from '../../client';
import { turnIdFor, type DoubleTextingPolicy } from '../../common';
import { spawnWorkerProcess, uniqueId, type WorkerProcess } from '../support';
import { TEST_MODEL, turnHarness, workflowBundle, type TurnHarness } from './harness';
import {
  answerByMessage,
  assertSteeredAnswer,
  answerTo,
  orderedContext,
  requestsFor,
  seenMessages,
  storedTurn,
  waitForFinished,
  waitForTurns,
} from './conversation-harness';

/** Starts a turn of `conversationId` in order, starting it directly when its conversation is idle. */
function sendDirect(
  h: TurnHarness,
  message: string,
  policy: DoubleTextingPolicy,
  conversationId = h.conversationId,
  requestId = uniqueId('req'),
): Promise<OrderedStart> {
  return startOrderedTurn(
    { temporal: h.client, pool: h.env.pool },
    { conversationId, requestId, message, doubleTexting: policy },
    { taskQueue: h.taskQueue, startTimeoutMs: 60_000, directStart: true },
  );
}

/** Whether the turn was started directly (its claim stored a start input), as Postgres decided. */
async function startedDirectly(h: TurnHarness, turnId: string): Promise<boolean> {
  const { rows } = await h.env.pool.query<{ direct: boolean }>(
    `SELECT direct_input IS NOT NULL AS direct FROM turns WHERE id = $1`,
    [turnId],
  );
  assert.equal(rows.length, 1, `turn ${turnId} is stored`);
  return rows[0]!.direct;
}

/** The turn ids of the conversation's final answers, in the order they were stored. */
async function finalsInOrder(h: TurnHarness, conversationId = h.conversationId): Promise<string[]> {
  const { rows } = await h.env.pool.query<{ turn_id: string }>(
    `SELECT turn_id FROM messages WHERE conversation_id = $1 AND kind = 'final' ORDER BY id`,
    [conversationId],
  );
  return rows.map((r) => r.turn_id);
}

/** `partial`, then the gate, then ` rest`. */
const held = (gate: string) => ({ steps: [{ text: 'partial' }, { waitFor: gate }, { text: ' rest' }] });

describe('direct start of an idle conversation’s turn', function () {
  this.timeout(240_000);
  let h: TurnHarness;
  let worker: WorkerProcess | undefined;

  beforeEach(async () => {
    h = await turnHarness();
  });
  afterEach(async () => {
    await worker?.kill();
    worker = undefined;
    await h.close();
  });

  it('two racing starts on an idle conversation: exactly one starts directly, the other runs after it, in order', async () => {
    const rounds = [1, 2, 3, 4];
    const scripts: Record<string, ReturnType<typeof held>> = {};
    for (const r of rounds) for (const m of [`a${r}`, `b${r}`]) scripts[m] = held(`g-${m}`);
    answerByMessage(h, scripts);
    await h.withWorker(async () => {
      for (const r of rounds) {
        const conversationId = uniqueId('race');
        const [a, b] = await Promise.all([
          sendDirect(h, `a${r}`, 'enqueue', conversationId),
          sendDirect(h, `b${r}`, 'enqueue', conversationId),
        ]);
        const direct = [await startedDirectly(h, a.turnId), await startedDirectly(h, b.turnId)];
        assert.equal(direct.filter(Boolean).length, 1, `round ${r}: exactly one went direct (${direct.join(', ')})`);
        const [first, second] = direct[0] ? [a, b] : [b, a];
        const [firstMessage, secondMessage] = direct[0] ? [`a${r}`, `b${r}`] : [`b${r}`, `a${r}`];
        assert.equal(first.state, 'running');
        assert.equal(second.state, 'queued');
        assert.equal(second.position, 1);
        assert.equal(second.runningTurnId, first.turnId);
        // The queued turn's gate is open from the start: only the order holds it back.
        h.llm.release(`g-${secondMessage}`);
        await h.llm.gateReached(`g-${firstMessage}`);
        const listed = await listConversationTurns(h.client, 'default', conversationId);
        assert.equal(listed.running?.turnId, first.turnId, 'the conversation adopted the direct turn');
        assert.deepEqual(
          listed.queued.map((t) => t.turnId),
          [second.turnId],
        );
        assert.equal(requestsFor(h, secondMessage).length, 0, 'nothing after the direct turn asked the model yet');
        h.llm.release(`g-${firstMessage}`);
        await waitForFinished(h, first.turnId);
        await waitForFinished(h, second.turnId);
        const requests = requestsFor(h, secondMessage);
        assert.equal(requests.length, 1);
        assert.deepEqual(
          seenMessages(requests[0]!),
          orderedContext([{ user: firstMessage, answer: 'partial rest' }], secondMessage),
        );
        assert.deepEqual(await finalsInOrder(h, conversationId), [first.turnId, second.turnId]);
      }
    });
  });

  it('a direct start no worker takes throws TurnStartTimeoutError at its deadline (no LISTEN hub: it reads the row), and its retry attaches', async () => {
    answerByMessage(h);
    const requestId = uniqueId('req');
    const start = (startTimeoutMs: number) =>
      startOrderedTurn(
        { temporal: h.client, pool: h.env.pool },
        { conversationId: h.conversationId, requestId, message: 'm1' },
        { taskQueue: h.taskQueue, startTimeoutMs },
      );
    const began = Date.now();
    const err = await start(500).then(
      () => assert.fail('started without a worker'),
      (e: unknown) => e,
    );
    const waited = Date.now() - began;
    assert.ok(err instanceof TurnStartTimeoutError, String(err));
    assert.ok(waited >= 500 && waited < 4_000, `waited ${waited} ms`);
    assert.equal(await startedDirectly(h, err.turnId), true, 'the default start went direct');
    assert.equal(h.llm.requests.length, 0, 'no model request without a worker');

    await h.withWorker(async () => {
      const started = await start(60_000);
      assert.deepEqual([started.turnId, started.attached], [err.turnId, true]);
      // The worker may have answered it before the retry's claim.
      assert.ok(['running', 'finished'].includes(started.state), `state ${started.state}`);
      assert.equal((await waitForFinished(h, started.turnId)).content, answerTo('m1'));
    });
    assert.equal(requestsFor(h, 'm1').length, 1, 'one turn, one model request');
    const runs: string[] = [];
    for await (const run of h.client.workflow.list({ query: `WorkflowId = '${err.turnId}'` })) runs.push(run.runId);
    assert.equal(runs.length, 1, 'exactly one workflow for the turn');
  });

  it('enqueue while a direct turn runs: the message waits for it, sees its answer, and the conversation goes direct again once idle', async () => {
    answerByMessage(h, { m1: held('g1') });
    await h.withWorker(async () => {
      const first = await sendDirect(h, 'm1', 'enqueue');
      assert.equal(first.state, 'running');
      assert.ok(await startedDirectly(h, first.turnId));
      await h.llm.gateReached('g1');
      const second = await sendDirect(h, 'm2', 'enqueue');
      assert.deepEqual([second.state, second.position, second.runningTurnId], ['queued', 1, first.turnId]);
      assert.equal(await startedDirectly(h, second.turnId), false);
      assert.equal(requestsFor(h, 'm2').length, 0);
      h.llm.release('g1');
      await waitForFinished(h, second.turnId);
      assert.deepEqual(
        seenMessages(requestsFor(h, 'm2')[0]!),
        orderedContext([{ user: 'm1', answer: 'partial rest' }], 'm2'),
      );
      // Both ended: the next message finds the conversation idle and starts directly again.
      const third = await sendDirect(h, 'm3', 'enqueue');
      assert.equal(third.state, 'running');
      assert.ok(await startedDirectly(h, third.turnId));
      await waitForFinished(h, third.turnId);
      assert.deepEqual(
        seenMessages(requestsFor(h, 'm3')[0]!),
        orderedContext(
          [
            { user: 'm1', answer: 'partial rest' },
            { user: 'm2', answer: answerTo('m2') },
          ],
          'm3',
        ),
      );
      assert.deepEqual(await finalsInOrder(h), [first.turnId, second.turnId, third.turnId]);
    });
  });

  it('reject while a direct turn runs: refused naming it, nothing stored for it', async () => {
    answerByMessage(h, { m1: held('g1') });
    await h.withWorker(async () => {
      const first = await sendDirect(h, 'm1', 'reject');
      await h.llm.gateReached('g1');
      const requestId = uniqueId('req');
      await assert.rejects(sendDirect(h, 'm2', 'reject', h.conversationId, requestId), (err: unknown) => {
        assert.ok(err instanceof TurnConflictError, String(err));
        assert.equal(err.reason, 'busy');
        assert.equal(err.runningTurnId, first.turnId);
        return true;
      });
      assert.equal(await storedTurn(h, turnIdFor('default', h.conversationId, requestId)), undefined);
      h.llm.release('g1');
      assert.equal((await waitForFinished(h, first.turnId)).content, 'partial rest');
      assert.equal(requestsFor(h, 'm2').length, 0);
    });
  });

  it('interrupt while a direct turn runs: the direct turn stops, and the new one sees its partial answer', async () => {
    answerByMessage(h, { m1: { steps: [{ text: 'partial' }, { waitFor: 'never' }] } });
    await h.withWorker(async () => {
      const first = await sendDirect(h, 'm1', 'interrupt');
      await h.llm.gateReached('never');
      const second = await sendDirect(h, 'm2', 'interrupt');
      const stopped = await waitForFinished(h, first.turnId);
      assert.deepEqual(
        [stopped.status, stopped.finish_reason, stopped.content],
        ['cancelled', 'interrupted', 'partial'],
      );
      const row = await waitForFinished(h, second.turnId);
      assert.deepEqual([row.status, row.finish_reason, row.content], ['completed', 'stop', answerTo('m2')]);
      assert.deepEqual(
        seenMessages(requestsFor(h, 'm2')[0]!),
        orderedContext([{ user: 'm1', answer: 'partial' }], 'm2'),
      );
      assert.deepEqual(await finalsInOrder(h), [first.turnId, second.turnId]);
    });
  });

  it('cancel of a direct turn adopted behind a turn whose end the conversation has not seen yet: the turn stops, the order holds', async () => {
    answerByMessage(h, { m1: held('g1'), m2: held('g2') });
    await h.withWorker(async () => {
      const first = await startOrderedTurn(
        { temporal: h.client, pool: h.env.pool },
        { conversationId: h.conversationId, requestId: uniqueId('req'), message: 'm1' },
        { taskQueue: h.taskQueue, startTimeoutMs: 60_000, directStart: false },
      );
      await h.llm.gateReached('g1');
      // The moment between a turn storing its end and its conversation seeing its workflow end (a few milliseconds
      // live), held open: its row says ended, so the next message starts directly, and the one after that finds the
      // conversation still running the first turn and queues the direct turn behind it.
      const setStatus = (status: string) =>
        h.env.pool.query(`UPDATE turns SET status = $2 WHERE id = $1`, [first.turnId, status]);
      await setStatus('completed');
      const second = await sendDirect(h, 'm2', 'enqueue');
      assert.ok(await startedDirectly(h, second.turnId), 'the second message started directly');
      await h.llm.gateReached('g2');
      const third = await sendDirect(h, 'm3', 'enqueue');
      await setStatus('running');
      assert.deepEqual([third.state, third.position, third.runningTurnId], ['queued', 2, first.turnId]);
      const listed = await listConversationTurns(h.client, 'default', h.conversationId);
      assert.deepEqual(
        [listed.running?.turnId, ...listed.queued.map((t) => t.turnId)],
        [first.turnId, second.turnId, third.turnId],
      );

      // It waits in the conversation's queue, but runs: the cancel stops it, and it keeps its place.
      assert.equal(
        await cancelInConversation(h.client, second.turnId),
        'running',
        'the cancel dropped a running direct turn from the queue as if it had never started',
      );
      const stopped = await waitForFinished(h, second.turnId);
      assert.deepEqual([stopped.status, stopped.finish_reason, stopped.content], ['cancelled', 'cancelled', 'partial']);
      assert.equal(requestsFor(h, 'm3').length, 0, 'the third message asked the model while the first turn ran');
      h.llm.release('g1');
      assert.equal((await waitForFinished(h, third.turnId)).content, answerTo('m3'));
      // It ran once both had ended. (The two ran side by side only because the test held the first turn streaming
      // through a moment that live lasts milliseconds after its answer: their answers' order is not the point.)
      const answersSeen = seenMessages(requestsFor(h, 'm3')[0]!)
        .filter((m) => m.role === 'assistant')
        .map((m) => m.content)
        .sort();
      assert.deepEqual(answersSeen, ['partial', 'partial rest']);
    });
  });

  it('steer while a direct turn runs a tool round: the message joins it at its next hop boundary', async () => {
    answerByMessage(h, {
      m1: {
        steps: [
          { waitFor: 'g1' },
          { toolCalls: [{ id: 'call_1', name: 'calculate', arguments: { expression: '6*7' } }] },
        ],
      },
    });
    await h.withWorker(async () => {
      const first = await sendDirect(h, 'm1', 'steer');
      assert.ok(await startedDirectly(h, first.turnId));
      await h.llm.gateReached('g1');
      const steered = sendDirect(h, 'm2', 'steer');
      await waitForTurns(h, (t) => t.steering.length === 1 && t.running?.turnId === first.turnId);
      h.llm.release('g1');
      const second = await steered;
      assert.equal(second.state, 'steered');
      assert.equal(second.turnId, first.turnId);
      await waitForFinished(h, first.turnId);
      await assertSteeredAnswer(h, first.turnId, 'm1', ['m2']);
      assert.equal((await storedTurn(h, second.requestTurnId))?.status, 'steered');
    });
  });

  it('eager: a direct start whose client shares a worker’s connection runs the turn’s first task in that process', async () => {
    answerByMessage(h);
    const connection = await NativeConnection.connect({ address: h.env.temporal.address });
    try {
      const worker = await createTurnWorker({
        connection,
        taskQueue: h.taskQueue,
        deps: h.deps(),
        workflowBundle: await workflowBundle(),
      });
      const eagerly: boolean[] = [];
      const probe: WorkflowClientInterceptor = {
        async startWithDetails(input, next) {
          const output = await next(input);
          eagerly.push(output.eagerlyStarted);
          return output;
        },
      };
      const client = new Client({ connection, interceptors: { workflow: [probe] } });
      await worker.runUntil(async () => {
        const started = await startOrderedTurn(
          { temporal: client, pool: h.env.pool },
          { conversationId: h.conversationId, requestId: uniqueId('req'), message: 'm1' },
          { taskQueue: h.taskQueue, directStart: true, eagerStart: true },
        );
        assert.equal(started.state, 'running');
        assert.equal((await waitForFinished(h, started.turnId)).content, answerTo('m1'));
      });
      assert.deepEqual(eagerly, [true], 'the server handed the first workflow task to the starting process');
    } finally {
      await connection.close();
    }
  });

  describe('under a worker crash', () => {
    function startWorkerProcess(): WorkerProcess {
      worker = spawnWorkerProcess({
        temporalAddress: h.env.temporal.address,
        databaseUrl: h.env.databaseUrl,
        taskQueue: h.taskQueue,
        llmBaseUrl: h.llm.baseURL,
        model: TEST_MODEL,
      });
      return worker;
    }

    /** m1 answered "partial rest" (cut by the kill, asked again), m2 once after it, seeing it: stored in that order. */
    async function assertOrderKept(first: OrderedStart, second: OrderedStart): Promise<void> {
      assert.equal((await storedTurn(h, first.turnId))?.content, 'partial rest');
      assert.equal((await storedTurn(h, second.turnId))?.content, answerTo('m2'));
      const requests = requestsFor(h, 'm2');
      assert.equal(requests.length, 1);
      assert.deepEqual(seenMessages(requests[0]!), orderedContext([{ user: 'm1', answer: 'partial rest' }], 'm2'));
      assert.deepEqual(await finalsInOrder(h), [first.turnId, second.turnId]);
    }

    it('a worker SIGKILLed during a direct turn: the next message waits for the retried turn and sees its answer', async () => {
      answerByMessage(h, { m1: held('crash') });
      const proc = startWorkerProcess();
      const first = await sendDirect(h, 'm1', 'enqueue');
      assert.ok(await startedDirectly(h, first.turnId));
      await h.llm.gateReached('crash');
      await proc.kill();
      h.llm.release('crash');
      await h.withWorker(async () => {
        const second = await sendDirect(h, 'm2', 'enqueue');
        assert.equal(await startedDirectly(h, second.turnId), false);
        await waitForFinished(h, first.turnId);
        await waitForFinished(h, second.turnId);
      });
      assert.equal(requestsFor(h, 'm1').length, 2, 'the cut stream was asked again');
      const [second] = (
        await h.env.pool.query<{ id: string }>(`SELECT id FROM turns WHERE conversation_id = $1 AND id <> $2`, [
          h.conversationId,
          first.turnId,
        ])
      ).rows;
      await assertOrderKept(first, { ...first, turnId: second!.id, requestTurnId: second!.id });
    });

    it('a worker SIGKILLed while its conversation waits for an adopted direct turn: the wait resumes, order kept', async () => {
      answerByMessage(h, { m1: held('crash') });
      const proc = startWorkerProcess();
      const first = await sendDirect(h, 'm1', 'enqueue');
      await h.llm.gateReached('crash');
      const second = await sendDirect(h, 'm2', 'enqueue');
      assert.deepEqual([second.state, second.runningTurnId], ['queued', first.turnId]);
      await proc.kill();
      h.llm.release('crash');
      await h.withWorker(async () => {
        await waitForFinished(h, first.turnId);
        await waitForFinished(h, second.turnId);
      });
      assert.equal(requestsFor(h, 'm1').length, 2, 'the cut stream was asked again');
      await assertOrderKept(first, second);
    });

    it('a direct turn whose caller died between its claim and its start is started by the conversation that adopts it', async () => {
      answerByMessage(h);
      const requestId = uniqueId('req');
      const turnId = turnIdFor('default', h.conversationId, requestId);
      const input = { tenantId: 'default', conversationId: h.conversationId, requestId, turnId };
      // The caller's claim, and then nothing: its process died before the workflow start.
      const claim = await claimOrderedTurn(
        h.env.pool,
        { tenantId: 'default', conversationId: h.conversationId, requestId, turnId, message: 'm1' },
        input,
      );
      assert.equal(claim.direct, true);
      await h.withWorker(async () => {
        const second = await sendDirect(h, 'm2', 'enqueue');
        assert.deepEqual([second.state, second.runningTurnId], ['queued', turnId]);
        await waitForFinished(h, second.turnId);
        assert.equal((await storedTurn(h, turnId))?.content, answerTo('m1'));
        assert.deepEqual(
          seenMessages(requestsFor(h, 'm2')[0]!),
          orderedContext([{ user: 'm1', answer: answerTo('m1') }], 'm2'),
        );
        assert.deepEqual(await finalsInOrder(h), [turnId, second.turnId]);
        // The request retried now attaches to its turn: one workflow, one answer.
        const retried = await sendDirect(h, 'm1', 'enqueue', h.conversationId, requestId);
        assert.deepEqual([retried.turnId, retried.attached], [turnId, true]);
      });
      assert.equal(requestsFor(h, 'm1').length, 1);
    });
  });
});
