import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { AnswerAssembler, messageKeys, TurnEvent } from '../../common';
import { finalMessage, storedEvents, turnHarness, TEST_MODEL, type TurnHarness } from './harness';

const ROOT = path.resolve(__dirname, '..', '..');

/** The real worker entry point as its own process, so it can be killed without warning. */
function spawnWorker(h: TurnHarness): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'worker', 'main.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: h.env.temporal.address,
      TURNFLOW_TASK_QUEUE: h.taskQueue,
      DATABASE_URL: h.env.databaseUrl,
      OPENAI_BASE_URL: h.llm.baseURL,
      OPENAI_API_KEY: 'test-key',
      OPENAI_MODEL: TEST_MODEL,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

describe('chatTurn under a worker crash', function () {
  this.timeout(180_000);
  let h: TurnHarness;
  let child: ChildProcess | undefined;

  beforeEach(async () => {
    h = await turnHarness();
  });
  afterEach(async () => {
    child?.kill('SIGKILL');
    await h.close();
  });

  it('finishes the turn on another worker after SIGKILL mid-stream, with no lost or duplicated text', async () => {
    h.llm.enqueue(
      { steps: [{ text: 'Half of an answer that the crash cuts' }, { waitFor: 'crash' }, { text: ' off.' }] },
      { steps: [{ text: 'The whole answer, streamed again.' }] },
    );
    const turn = await h.start({ message: 'survive a crash' });
    child = spawnWorker(h);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));

    await Promise.race([
      h.llm.gateReached('crash'),
      exited.then((code) => assert.fail(`the worker exited (${code}) before streaming: ${stderr}`)),
    ]);
    child.kill('SIGKILL');
    await exited;

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
