import assert from 'node:assert/strict';
import type { OrderedStart } from '../../client';
import { spawnWorkerProcess, type WorkerProcess } from '../support';
import { TEST_MODEL, turnHarness, type TurnHarness } from './harness';
import {
  answerByMessage,
  assertSteeredAnswer,
  answerTo,
  orderedContext,
  requestsFor,
  seenMessages,
  sendOrdered,
  storedTurn,
  waitForFinished,
  waitForTurns,
} from './conversation-harness';

const MESSAGES = ['m1', 'm2', 'm3', 'm4', 'm5'];

describe('conversation order under a worker crash', function () {
  this.timeout(240_000);
  let h: TurnHarness;
  let worker: WorkerProcess | undefined;

  beforeEach(async () => {
    h = await turnHarness();
  });
  afterEach(async () => {
    await worker?.kill();
    await h.close();
  });

  /** The real worker as its own process, serving turns until it is killed. */
  function startWorkerProcess(): WorkerProcess {
    const started = spawnWorkerProcess({
      temporalAddress: h.env.temporal.address,
      databaseUrl: h.env.databaseUrl,
      taskQueue: h.taskQueue,
      llmBaseUrl: h.llm.baseURL,
      model: TEST_MODEL,
    });
    worker = started;
    return started;
  }

  it('enqueue: four turns queued when the worker is SIGKILLed all run once, in order, after it', async () => {
    answerByMessage(h, { m1: { steps: [{ text: 'partial' }, { waitFor: 'crash' }, { text: ' rest' }] } });
    const proc = startWorkerProcess();
    const started: OrderedStart[] = [await sendOrdered(h, 'm1', 'enqueue')];
    await h.llm.gateReached('crash');
    for (const message of MESSAGES.slice(1)) started.push(await sendOrdered(h, message, 'enqueue'));
    await waitForTurns(h, (t) => t.queued.length === 4);
    await proc.kill();
    h.llm.release('crash');

    await h.withWorker(async () => {
      for (const s of started) await waitForFinished(h, s.turnId);
    });
    const history: { user: string; answer: string }[] = [];
    for (const [i, message] of MESSAGES.entries()) {
      const answer = i === 0 ? 'partial rest' : answerTo(message);
      const row = await storedTurn(h, started[i]!.turnId);
      assert.equal(row?.status, 'completed', message);
      assert.equal(row?.content, answer);
      const requests = requestsFor(h, message);
      // The first turn's stream was cut by the kill and asked again; every queued turn asked exactly once.
      assert.equal(requests.length, i === 0 ? 2 : 1, message);
      for (const request of requests) assert.deepEqual(seenMessages(request), orderedContext(history, message));
      history.push({ user: message, answer });
    }
    const finals = await h.env.pool.query(
      `SELECT turn_id FROM messages WHERE conversation_id = $1 AND kind = 'final' ORDER BY id`,
      [h.conversationId],
    );
    assert.deepEqual(
      finals.rows.map((r: { turn_id: string }) => r.turn_id),
      started.map((s) => s.turnId),
    );
  });

  it('interrupt: turns sent just before a SIGKILL stop the ones before them, and the last sees them all', async () => {
    const held = Object.fromEntries(MESSAGES.slice(1, -1).map((m) => [m, { steps: [{ waitFor: `never-${m}` }] }]));
    answerByMessage(h, { m1: { steps: [{ text: 'partial' }, { waitFor: 'crash' }] }, ...held });
    const proc = startWorkerProcess();
    const started: OrderedStart[] = [await sendOrdered(h, 'm1', 'interrupt')];
    await h.llm.gateReached('crash');
    for (const message of MESSAGES.slice(1)) started.push(await sendOrdered(h, message, 'interrupt'));
    await proc.kill();

    await h.withWorker(async () => {
      await waitForFinished(h, started.at(-1)!.turnId);
    });
    const rows = await Promise.all(started.map((s) => storedTurn(h, s.turnId)));
    assert.deepEqual(
      rows.map((r) => r?.finish_reason),
      ['interrupted', 'interrupted', 'interrupted', 'interrupted', 'stop'],
      JSON.stringify(rows.map((r) => r?.status)),
    );
    // Whether the first turn's partial text was stored before the kill depends on the moment of the kill.
    assert.ok(['partial', ''].includes(rows[0]?.content ?? 'missing'), `first answer: ${rows[0]?.content}`);
    const history = MESSAGES.slice(0, -1).map((user, i) => ({ user, answer: i === 0 ? rows[0]!.content! : '' }));
    const last = requestsFor(h, 'm5');
    assert.equal(last.length, 1);
    assert.deepEqual(seenMessages(last[0]!), orderedContext(history, 'm5'));
  });

  it('steer: a message waiting for the boundary when the worker is SIGKILLed still joins the turn', async () => {
    answerByMessage(h, {
      m1: {
        steps: [
          { waitFor: 'crash' },
          { toolCalls: [{ id: 'call_1', name: 'calculate', arguments: { expression: '6*7' } }] },
        ],
      },
    });
    const proc = startWorkerProcess();
    const first = await sendOrdered(h, 'm1', 'steer');
    await h.llm.gateReached('crash');
    const steered = sendOrdered(h, 'm2', 'steer');
    await waitForTurns(h, (t) => t.steering.length === 1);
    await proc.kill();
    h.llm.release('crash');

    await h.withWorker(async () => {
      const second = await steered;
      assert.equal(second.state, 'steered');
      assert.equal(second.turnId, first.turnId);
      await waitForFinished(h, first.turnId);
    });
    await assertSteeredAnswer(h, first.turnId, 'm1', ['m2']);
  });
});
