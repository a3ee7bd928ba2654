import assert from 'node:assert/strict';
import { EventHub, turnEvents } from '../../client';
import { AnswerAssembler, isTerminal, messageKeys, TurnEvent } from '../../common';
import { cancelTurn } from '../../workflows';
import { spawnWorkerProcess, type WorkerProcess } from '../support';
import { finalMessage, storedEvents, turnHarness, TEST_MODEL, type TurnHarness } from './harness';

/** The real worker entry point as its own process, so it can be killed without warning. */
function spawnWorker(h: TurnHarness): WorkerProcess {
  return spawnWorkerProcess({
    temporalAddress: h.env.temporal.address,
    databaseUrl: h.env.databaseUrl,
    taskQueue: h.taskQueue,
    llmBaseUrl: h.llm.baseURL,
    model: TEST_MODEL,
    extra: { LOG_LEVEL: 'warn' },
  });
}

describe('chatTurn under a worker crash', function () {
  this.timeout(180_000);
  let h: TurnHarness;
  let worker: WorkerProcess | undefined;

  beforeEach(async () => {
    h = await turnHarness();
  });
  afterEach(async () => {
    await worker?.kill();
    await h.close();
  });

  it('finishes the turn on another worker after SIGKILL mid-stream, with no lost or duplicated text', async () => {
    h.llm.enqueue(
      { steps: [{ text: 'Half of an answer that the crash cuts' }, { waitFor: 'crash' }, { text: ' off.' }] },
      { steps: [{ text: 'The whole answer, streamed again.' }] },
    );
    const turn = await h.start({ message: 'survive a crash' });
    worker = spawnWorker(h);
    await Promise.race([
      h.llm.gateReached('crash'),
      new Promise((resolve) => worker!.child.once('exit', resolve)).then(() =>
        assert.fail(`the worker exited before streaming: ${worker!.output()}`),
      ),
    ]);
    await worker.kill();

    const result = await h.withWorker(() => turn.handle.result());
    assert.equal(result.status, 'completed');
    assert.equal(h.llm.requests.length, 2);
    const [final] = await finalMessage(h.env, turn.turnId);
    assert.equal(final?.content, 'The whole answer, streamed again.');
    const events = (await storedEvents(h.env, turn.turnId)).map((e) => TurnEvent.parse(e));
    assert.ok(
      events.some((e) => e.type === 'reset' && e.supersededAttempt === 1),
      'the retry announced a reset',
    );
    const answer = new AnswerAssembler();
    events.forEach((e) => answer.apply(e));
    assert.equal(answer.text, final?.content);
    const finals = await h.env.pool.query(`SELECT 1 FROM messages WHERE turn_id = $1 AND kind = 'final'`, [
      turn.turnId,
    ]);
    assert.equal(finals.rowCount, 1);
  });

  it('keeps the text its reader saw when a stopped turn loses its worker before the partial answer is stored', async () => {
    h.llm.enqueue({
      steps: [{ text: 'Half of an answer that the stop cuts' }, { waitFor: 'crash' }, { text: ' off.' }],
    });
    const turn = await h.start({ message: 'stop me, then lose the worker' });
    worker = spawnWorker(h);
    await h.llm.gateReached('crash');
    // Every delta before the gate is stored (the writer flushes within its interval) before the worker dies.
    const partial = 'Half of an answer that the stop cuts';
    await until(async () => {
      const stored = new AnswerAssembler();
      (await storedEvents(h.env, turn.turnId)).forEach((e) => stored.apply(TurnEvent.parse(e)));
      return stored.text === partial;
    });
    await worker.kill();
    // The stop reaches the turn after its worker died: the LLM activity can only time out, and the turn ends stopped.
    await turn.handle.signal(cancelTurn, { reason: 'user pressed stop' });

    const result = await h.withWorker(() => turn.handle.result());
    assert.equal(result.status, 'cancelled');
    assert.equal(result.finishReason, 'cancelled');
    assert.equal(h.llm.requests.length, 1, 'a stopped turn does not ask the model again');
    const [final] = await finalMessage(h.env, turn.turnId);
    assert.equal(final?.content, partial);
    const answer = new AnswerAssembler();
    (await storedEvents(h.env, turn.turnId)).forEach((e) => answer.apply(TurnEvent.parse(e)));
    assert.equal(answer.text, final?.content, 'what the reader assembled is what was stored');
  });

  it('tells a live reader to drop text it saw that its lost worker never stored, when the stop ends the turn', async () => {
    // Deltas are announced at once and stored in batches: with a long interval, none is stored before the kill.
    const seen = 'Text a reader sees that the killed worker never stores';
    h.llm.enqueue({ steps: [{ text: seen }, { waitFor: 'crash' }, { text: ' and more.' }] });
    const turn = await h.start({
      message: 'stop me after losing what I saw',
      persistence: { persistDeltas: true, intervalMs: 60_000, minChars: 1_000_000 },
    });
    const hub = new EventHub({ connectionString: h.env.databaseUrl });
    try {
      const live = new AnswerAssembler();
      const reading = (async () => {
        for await (const event of turnEvents(h.env.pool, hub, turn.turnId)) {
          live.apply(event);
          if (isTerminal(event)) return event;
        }
        return undefined;
      })();
      worker = spawnWorker(h);
      await h.llm.gateReached('crash');
      await until(() => live.text === seen);
      assert.equal((await storedEvents(h.env, turn.turnId)).length, 0, 'nothing of the attempt is stored');
      await worker.kill();
      await turn.handle.signal(cancelTurn, { reason: 'user pressed stop' });

      const result = await h.withWorker(() => turn.handle.result());
      assert.equal(result.status, 'cancelled');
      assert.equal((await reading)?.type, 'done', 'the reader reached the end');
      const [final] = await finalMessage(h.env, turn.turnId);
      assert.equal(live.text, final?.content ?? '', 'what the live reader assembled is what was stored');
      const stored = new AnswerAssembler();
      (await storedEvents(h.env, turn.turnId)).forEach((e) => stored.apply(TurnEvent.parse(e)));
      assert.equal(
        stored.text,
        final?.content ?? '',
        'what a reader of the stored stream assembles is what was stored',
      );
    } finally {
      await hub.close();
    }
  });

  it('announces the end of a turn whose answer was stored by a run lost before it wrote done', async () => {
    // What a worker killed inside completeTurn, after its transaction and before its `done` event, leaves behind:
    // the user message moved into the conversation, the final message stored, the turn marked completed, and a
    // stream with no end. A later workflow task finds the turn finished; its client must still be told.
    const turn = await h.start({ message: 'stored but never announced' });
    const answer = 'The answer the lost run stored.';
    await h.env.pool.query(
      `INSERT INTO messages (tenant_id, conversation_id, turn_id, idem_key, kind, content)
       SELECT tenant_id, conversation_id, id, $2, 'user', message FROM turns WHERE id = $1`,
      [turn.turnId, messageKeys.user(turn.turnId)],
    );
    await h.env.pool.query(
      `INSERT INTO messages (tenant_id, conversation_id, turn_id, idem_key, kind, content, model, finish_reason)
       SELECT tenant_id, conversation_id, id, $2, 'final', $3, $4, 'stop' FROM turns WHERE id = $1`,
      [turn.turnId, messageKeys.final(turn.turnId), answer, TEST_MODEL],
    );
    await h.env.pool.query(
      `UPDATE turns SET status = 'completed', finish_reason = 'stop', hops = 0, model = $2, message = NULL,
              completed_at = now() WHERE id = $1`,
      [turn.turnId, TEST_MODEL],
    );

    const result = await h.withWorker(() => turn.handle.result());
    assert.equal(result.status, 'completed');
    assert.equal(result.finishReason, 'stop');
    assert.equal(h.llm.requests.length, 0, 'the model is not asked again');
    const [final] = await finalMessage(h.env, turn.turnId);
    assert.equal(final?.content, answer);
    const events = (await storedEvents(h.env, turn.turnId)).map((e) => TurnEvent.parse(e));
    const ends = events.filter((e) => e.type === 'done' || e.type === 'error');
    assert.equal(ends.length, 1, `one end in ${JSON.stringify(events)}`);
    assert.deepEqual(
      { type: ends[0]?.type, status: ends[0]?.type === 'done' ? ends[0].status : null },
      { type: 'done', status: 'completed' },
    );
    assert.equal(ends[0]?.type === 'done' ? ends[0].messageId : null, final?.id);
  });
});

/** Resolves once `check` holds (polled every 100 ms, for at most 30 s). */
async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the condition never held');
    await new Promise((r) => setTimeout(r, 100));
  }
}
