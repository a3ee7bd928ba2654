import assert from 'node:assert/strict';
import { AnswerAssembler, TurnEvent } from '../../common';
import { finalMessage, storedEvents, turnHarness, type TurnHarness } from './harness';

async function assembled(h: TurnHarness, turnId: string): Promise<string> {
  const answer = new AnswerAssembler();
  for (const e of await storedEvents(h.env, turnId)) answer.apply(TurnEvent.parse(e));
  return answer.text;
}

/** The `lastFailure` type the second attempt of the first `streamCompletion` started with. */
async function retriedBecause(handle: { fetchHistory(): Promise<{ events?: unknown[] | null }> }) {
  type Ev = {
    activityTaskStartedEventAttributes?: {
      attempt?: number | null;
      lastFailure?: { applicationFailureInfo?: { type?: string | null } | null } | null;
    } | null;
  };
  const events = ((await handle.fetchHistory()).events ?? []) as Ev[];
  const started = events.map((e) => e.activityTaskStartedEventAttributes).filter((a) => (a?.attempt ?? 0) > 1);
  return started.map((a) => a?.lastFailure?.applicationFailureInfo?.type);
}

describe('chatTurn with a stream cut without [DONE]', function () {
  this.timeout(120_000);
  let h: TurnHarness;

  beforeEach(async () => {
    h = await turnHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('retries a text stream that ends without [DONE] or finish_reason instead of storing its first words as the answer', async () => {
    h.llm.enqueue(
      // "The" arrives, then the body ends cleanly: no finish chunk, no [DONE].
      { steps: [{ text: 'The answer is forty-two.', chunkSize: 4 }], closeAfterChunks: 1 },
      { steps: [{ text: 'The answer is forty-two.', chunkSize: 4 }] },
    );
    const turn = await h.start({ message: 'cut me off' });
    const result = await h.withWorker(() => turn.handle.result());

    assert.equal(h.llm.requests.length, 2, 'the cut stream was retried');
    assert.equal(h.llm.requests[0]?.outcome, 'closed');
    assert.deepEqual(await retriedBecause(turn.handle), ['llm.truncated']);
    assert.equal(result.finishReason, 'stop');
    const [final] = await finalMessage(h.env, turn.turnId);
    assert.equal(final?.content, 'The answer is forty-two.');
    const events = (await storedEvents(h.env, turn.turnId)).map((e) => TurnEvent.parse(e));
    assert.ok(
      events.some((e) => e.type === 'reset' && e.supersededAttempt === 1),
      'the cut attempt was reset',
    );
    assert.equal(await assembled(h, turn.turnId), 'The answer is forty-two.');
  });

  it('retries a tool hop cut mid-arguments instead of running the tool with half its arguments', async () => {
    const call = { id: 'call_calc', name: 'calculate', arguments: '{"expression":"2+3*4"}', argChunks: 4 };
    h.llm.enqueue(
      // Chunk 1 opens the call, chunks 2-3 carry half the arguments; then the body ends.
      { steps: [{ toolCalls: [call] }], closeAfterChunks: 3 },
      { steps: [{ toolCalls: [call] }] },
      { steps: [{ text: 'It is 14.' }] },
    );
    const turn = await h.start({ message: 'what is 2+3*4?' });
    const result = await h.withWorker(() => turn.handle.result());

    assert.equal(result.hops, 1);
    assert.equal(h.llm.requests.length, 3);
    const toolMessages = (h.llm.requests[2]?.body.messages ?? []).filter((m) => m.role === 'tool');
    assert.equal(toolMessages.length, 1, 'the tool ran once');
    assert.equal(JSON.parse(String(toolMessages[0]?.content)).result, 14);
    assert.equal((await finalMessage(h.env, turn.turnId))[0]?.content, 'It is 14.');
  });

  it('reports no finish reason when the provider ended with [DONE] but sent none', async () => {
    h.llm.enqueue({ steps: [{ text: 'An answer without a finish reason.' }], finishReason: null });
    const turn = await h.start({ message: 'no finish reason' });
    const result = await h.withWorker(() => turn.handle.result());

    assert.equal(h.llm.requests.length, 1, 'a stream that ended with [DONE] is complete');
    assert.equal(result.finishReason, null);
    const [final] = await finalMessage(h.env, turn.turnId);
    assert.equal(final?.content, 'An answer without a finish reason.');
    assert.equal(final?.finish_reason, null);
    const done = (await storedEvents(h.env, turn.turnId)).map((e) => TurnEvent.parse(e)).find((e) => e.type === 'done');
    assert.equal(done?.type === 'done' && done.finishReason, null);
  });
});
