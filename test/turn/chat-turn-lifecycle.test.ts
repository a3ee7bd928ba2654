import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { AnswerAssembler, TurnEvent } from '../../common';
import { cancelTurn, turnProgress } from '../../workflows';
import { finalMessage, storedEvents, turnHarness, type TurnHarness } from './harness';

/** What the turn's result rejects with (`undefined` if it succeeds). */
function failureOf(handle: { result(): Promise<unknown> }): Promise<unknown> {
  return handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
}

async function assembled(h: TurnHarness, turnId: string): Promise<string> {
  const answer = new AnswerAssembler();
  for (const e of await storedEvents(h.env, turnId)) answer.apply(TurnEvent.parse(e));
  return answer.text;
}

describe('chatTurn lifecycle', function () {
  this.timeout(120_000);
  let h: TurnHarness;

  beforeEach(async () => {
    h = await turnHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('attaches a duplicate start to the running turn and replays the stored answer after it finished', async () => {
    h.llm.enqueue({ steps: [{ text: 'First half, ' }, { waitFor: 'gate' }, { text: 'second half.' }] });
    const request = { requestId: 'req-dup', message: 'once please' };
    const first = await h.start(request);
    assert.equal(first.attached, false);

    const result = await h.withWorker(async () => {
      await h.llm.gateReached('gate');
      const whileRunning = await h.start(request);
      assert.equal(whileRunning.attached, true);
      assert.equal(whileRunning.turnId, first.turnId);
      h.llm.release('gate');
      return whileRunning.handle.result();
    });

    const afterwards = await h.start(request);
    assert.equal(afterwards.attached, true);
    assert.deepEqual(await afterwards.handle.result(), result);
    assert.equal(h.llm.requests.length, 1, 'the model was asked once');
    const userMessages = await h.env.pool.query(`SELECT 1 FROM messages WHERE turn_id = $1 AND kind = 'user'`, [
      first.turnId,
    ]);
    assert.equal(userMessages.rowCount, 1);
    assert.equal((await finalMessage(h.env, first.turnId))[0]?.content, 'First half, second half.');
  });

  it('stops generating on cancelTurn and keeps the partial answer with finish_reason cancelled', async () => {
    h.llm.enqueue({ steps: [{ text: 'The partial answer' }, { waitFor: 'never' }, { text: ' that never comes.' }] });
    const turn = await h.start({ message: 'long answer please' });
    const result = await h.withWorker(async () => {
      await h.llm.gateReached('never');
      const progress = await turn.handle.query(turnProgress);
      assert.equal(progress.phase, 'streaming');
      await turn.handle.signal(cancelTurn, { reason: 'user pressed stop' });
      return turn.handle.result();
    });

    assert.equal(result.status, 'cancelled');
    assert.equal(result.finishReason, 'cancelled');
    const [final] = await finalMessage(h.env, turn.turnId);
    assert.equal(final?.content, 'The partial answer');
    assert.equal(final?.finish_reason, 'cancelled');
    assert.equal(await assembled(h, turn.turnId), 'The partial answer');
    assert.equal(h.llm.requests[0]?.outcome, 'aborted', 'stopping aborted the HTTP request to the model');
  });

  it('on Temporal cancellation stores the partial answer, then ends the workflow as cancelled', async () => {
    h.llm.enqueue({ steps: [{ text: 'Cut short' }, { waitFor: 'never' }, { text: ' here.' }] });
    const turn = await h.start({ message: 'cancel the workflow' });
    const err = await h.withWorker(async () => {
      await h.llm.gateReached('never');
      await turn.handle.cancel();
      return turn.handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
    });

    assert.ok(err instanceof WorkflowFailedError);
    assert.ok(err.cause instanceof CancelledFailure);
    const [final] = await finalMessage(h.env, turn.turnId);
    assert.equal(final?.content, 'Cut short');
    assert.equal(final?.finish_reason, 'cancelled');
    const events = (await storedEvents(h.env, turn.turnId)).map((e) => TurnEvent.parse(e));
    const done = events.at(-1);
    assert.equal(done?.type === 'done' && done.status, 'cancelled');
  });

  it('honours Retry-After on a 429, then streams the retry after a reset', async () => {
    h.llm.enqueue(
      { steps: [], httpError: { status: 429, headers: { 'retry-after': '2' } } },
      { steps: [{ text: 'Worth the wait.' }] },
    );
    const turn = await h.start({ message: 'busy?' });
    const result = await h.withWorker(() => turn.handle.result());

    assert.equal(result.status, 'completed');
    assert.equal(h.llm.requests.length, 2);
    const waited = h.llm.requests[1]!.receivedAt - h.llm.requests[0]!.receivedAt;
    assert.ok(waited >= 1_900, `retried after ${waited} ms, Retry-After said 2 s`);
    const events = (await storedEvents(h.env, turn.turnId)).map((e) => TurnEvent.parse(e));
    const reset = events.find((e) => e.type === 'reset');
    assert.equal(reset?.type === 'reset' && reset.supersededAttempt, 1);
    assert.equal(await assembled(h, turn.turnId), 'Worth the wait.');
  });

  it('drops the text of an attempt that died mid-stream and ends with exactly the retried text', async () => {
    h.llm.enqueue(
      { steps: [{ text: 'This attempt will be cut off in the middle' }], dropAfterChunks: 4 },
      { steps: [{ text: 'The complete answer.' }] },
    );
    const turn = await h.start({ message: 'flaky network' });
    await h.withWorker(() => turn.handle.result());

    const events = (await storedEvents(h.env, turn.turnId)).map((e) => TurnEvent.parse(e));
    const firstAttemptText = events.filter((e) => e.type === 'text' && e.attempt === 1);
    assert.ok(firstAttemptText.length > 0, 'the dead attempt had streamed text before it died');
    assert.equal(await assembled(h, turn.turnId), 'The complete answer.');
    assert.equal((await finalMessage(h.env, turn.turnId))[0]?.content, 'The complete answer.');
  });

  it('retries a stream that stalls past the idle timeout and ends with the retried text', async () => {
    h.llm.enqueue(
      { steps: [{ text: 'This stream goes quiet' }], stallAfterChunks: 2 },
      { steps: [{ text: 'A stream that finishes.' }] },
    );
    const turn = await h.start({ message: 'stall' });
    await h.withWorker(() => turn.handle.result(), { llmIdleTimeoutMs: 500 });

    assert.equal(h.llm.requests.length, 2);
    assert.equal(h.llm.requests[0]?.outcome, 'aborted', 'the stalled request was abandoned');
    const history = await turn.handle.fetchHistory();
    const events = history.events ?? [];
    const scheduled = events.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'turnflow.streamCompletion',
    );
    const started = events.find(
      (e) =>
        e.activityTaskStartedEventAttributes &&
        Number(e.activityTaskStartedEventAttributes.scheduledEventId) === Number(scheduled?.eventId),
    );
    assert.equal(started?.activityTaskStartedEventAttributes?.attempt, 2, 'the LLM activity ran a second attempt');
    assert.equal(started?.activityTaskStartedEventAttributes?.lastFailure?.applicationFailureInfo?.type, 'llm.stalled');
    assert.equal(await assembled(h, turn.turnId), 'A stream that finishes.');
  });

  it('fails a 401 at once with the whole failure chain and records the error', async () => {
    h.llm.enqueue({ steps: [], httpError: { status: 401 } });
    const turn = await h.start({ message: 'who am I?' });
    const err = await h.withWorker(() => failureOf(turn.handle));

    assert.ok(err instanceof WorkflowFailedError);
    assert.ok(err.cause instanceof ActivityFailure);
    assert.ok(err.cause.cause instanceof ApplicationFailure);
    assert.equal(err.cause.cause.type, 'llm.unauthorized');
    assert.equal(err.cause.cause.nonRetryable, true);
    assert.equal(h.llm.requests.length, 1, 'not retried');
    const turnRow = await h.env.pool.query<{ status: string }>(`SELECT status FROM turns WHERE id = $1`, [turn.turnId]);
    assert.equal(turnRow.rows[0]?.status, 'failed');
    const events = (await storedEvents(h.env, turn.turnId)).map((e) => TurnEvent.parse(e));
    const error = events.at(-1);
    assert.equal(error?.type === 'error' && error.errorType, 'llm.unauthorized');
    const user = await h.env.pool.query(`SELECT content FROM messages WHERE turn_id = $1 AND kind = 'user'`, [
      turn.turnId,
    ]);
    assert.equal(user.rows[0]?.content, 'who am I?', 'the stored user message survives the failure');
  });

  it('rejects an unknown model before any LLM call, without retrying', async () => {
    const turn = await h.start({ message: 'hi', model: 'gpt-nonexistent' });
    const err = await h.withWorker(() => failureOf(turn.handle));

    // The first hop's activity prepares the turn before its request: it fails for good, refusing the model.
    assert.ok(err instanceof WorkflowFailedError);
    assert.ok(err.cause instanceof ActivityFailure);
    const refusal = err.cause.cause;
    assert.ok(refusal instanceof ApplicationFailure);
    assert.equal(refusal.type, 'turn.unknown_model');
    assert.equal(refusal.nonRetryable, true);
    assert.match(refusal.message, /gpt-nonexistent/);
    assert.equal(h.llm.requests.length, 0);
  });

  it('rejects a tool set naming unknown tools before any LLM call', async () => {
    const turn = await h.start({ message: 'hi', tools: ['calculate', 'launch_rockets'] });
    const err = await h.withWorker(() => failureOf(turn.handle));

    assert.ok(err instanceof WorkflowFailedError);
    assert.ok(err.cause instanceof ActivityFailure);
    const refusal = err.cause.cause;
    assert.ok(refusal instanceof ApplicationFailure);
    assert.equal(refusal.type, 'turn.unknown_tools');
    assert.match(refusal.message, /launch_rockets/);
    assert.equal(h.llm.requests.length, 0);
  });

  it('keeps workflow history the same length when the answer has ten times the tokens', async () => {
    const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');
    const run = async (n: number) => {
      h.llm.enqueue(
        {
          steps: [
            { text: words(n) },
            { toolCalls: [{ id: 'c', name: 'calculate', arguments: '{"expression":"1+1"}' }] },
          ],
        },
        { steps: [{ text: words(n) }] },
      );
      const turn = await h.start({ message: 'long' });
      await h.withWorker(() => turn.handle.result());
      const history = await turn.handle.fetchHistory();
      const deltas = h.llm.requests.slice(-2).reduce((sum, r) => sum + r.chunksSent, 0);
      return { events: history.events?.length ?? 0, texts: deltas };
    };
    const small = await run(40);
    const large = await run(400);
    assert.ok(
      large.texts >= 10 * small.texts * 0.9,
      `the large answer streamed ${large.texts} vs ${small.texts} deltas`,
    );
    assert.equal(large.events, small.events);
  });
});
