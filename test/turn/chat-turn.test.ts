import assert from 'node:assert/strict';
import pino from 'pino';
import { AnswerAssembler, TurnEvent } from '../../common';
import { finalMessage, storedEvents, turnHarness, TEST_MODEL, type TurnHarness } from './harness';

describe('chatTurn', function () {
  this.timeout(120_000);
  let h: TurnHarness;

  beforeEach(async () => {
    h = await turnHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('streams a text-only answer and stores it as one final message', async () => {
    h.llm.enqueue({
      steps: [{ text: 'Hello there, how can I help?' }],
      usage: { prompt_tokens: 7, completion_tokens: 6 },
    });
    const turn = await h.start({ message: 'hi' });
    const result = await h.withWorker(() => turn.handle.result());

    assert.equal(result.status, 'completed');
    assert.equal(result.finishReason, 'stop');
    assert.equal(result.hops, 0);
    assert.equal(result.model, TEST_MODEL);
    assert.deepEqual(result.usage, {
      promptTokens: 7,
      completionTokens: 6,
      totalTokens: 13,
      cachedInputTokens: 0,
      reasoningTokens: 0,
      llmAttempts: 1,
      responsesWithoutUsage: 0,
    });
    const [final] = await finalMessage(h.env, turn.turnId);
    assert.equal(final?.content, 'Hello there, how can I help?');
    assert.equal(final?.id, result.messageId);

    const events = (await storedEvents(h.env, turn.turnId)).map((e) => TurnEvent.parse(e));
    const answer = new AnswerAssembler();
    events.forEach((e) => answer.apply(e));
    assert.equal(answer.text, 'Hello there, how can I help?');
    assert.equal(events.at(-1)?.type, 'done');
    assert.equal(h.llm.requests.length, 1);
    assert.deepEqual(h.llm.requests[0]?.body.messages, [{ role: 'user', content: 'hi' }]);
  });

  it('logs the first LLM reply when asked, and never the API key', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    h.llm.enqueue(
      {
        steps: [
          { text: 'Let me compute. ' },
          { toolCalls: [{ id: 'c1', name: 'calculate', arguments: '{"expression":"1+2"}' }] },
        ],
      },
      { steps: [{ text: 'Three.' }] },
    );
    const turn = await h.start({ message: 'log me', logInitialResponse: true });
    await h.withWorker(() => turn.handle.result(), { logger });

    const logged = lines.map(
      (l) => JSON.parse(l) as { msg: string; model?: string; message?: { content: string; tool_calls: unknown[] } },
    );
    const initial = logged.filter((l) => l.msg === 'Streaming initial response');
    assert.equal(initial.length, 1, 'only the first hop is logged');
    assert.equal(initial[0]?.model, TEST_MODEL);
    assert.equal(initial[0]?.message?.content, 'Let me compute. ');
    assert.equal(initial[0]?.message?.tool_calls.length, 1);
    assert.ok(!lines.join('\n').includes('test-key'), 'the API key never reaches the logs');
  });
});
