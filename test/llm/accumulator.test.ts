import assert from 'node:assert/strict';
import path from 'node:path';
import { ChatStreamAccumulator, MalformedChunkError, ProviderStreamError } from '../../activities/llm';
import { resolveFixturesDir } from '../../scripted-llm';
import { chunk, payloadsOf, usageChunk, type RawChunk } from './chunks';

function feed(chunks: RawChunk[], prefix?: string): ChatStreamAccumulator {
  const acc = new ChatStreamAccumulator(prefix === undefined ? {} : { toolCallIdPrefix: prefix });
  for (const c of chunks) acc.push(c);
  return acc;
}

const fixture = (name: string): string => path.join(resolveFixturesDir(), name);

describe('ChatStreamAccumulator', () => {
  describe('content, reasoning and refusal', () => {
    it('returns the text deltas each chunk contributed and concatenates them', () => {
      const acc = new ChatStreamAccumulator();
      assert.deepEqual(acc.push(chunk({ role: 'assistant', content: '' })), []);
      assert.deepEqual(acc.push(chunk({ content: 'Hel' })), [{ kind: 'text', text: 'Hel' }]);
      assert.deepEqual(acc.push(chunk({ content: 'lo' })), [{ kind: 'text', text: 'lo' }]);
      assert.equal(acc.result().content, 'Hello');
    });

    it('reports content null when the stream carried none (empty strings count as none)', () => {
      const result = feed([chunk({ content: '' }), chunk({ content: null }), chunk({}, { finish: 'stop' })]).result();
      assert.equal(result.content, null);
      assert.equal(result.reasoning, null);
      assert.equal(result.refusal, null);
    });

    it('keeps reasoning_content and reasoning apart from content', () => {
      const acc = new ChatStreamAccumulator();
      assert.deepEqual(acc.push(chunk({ content: null, reasoning_content: 'think ' })), [
        { kind: 'reasoning', text: 'think ' },
      ]);
      assert.deepEqual(acc.push(chunk({ reasoning: 'more', channel: 'analysis' })), [
        { kind: 'reasoning', text: 'more' },
      ]);
      acc.push(chunk({ content: 'answer' }));
      assert.equal(acc.result().reasoning, 'think more');
      assert.equal(acc.result().content, 'answer');
    });

    it('reads reasoning_content once when a server sends the same text in reasoning too', () => {
      const result = feed([chunk({ reasoning_content: 'x', reasoning: 'x' })]).result();
      assert.equal(result.reasoning, 'x');
    });

    it('reads Mistral content arrays: text parts are content, thinking parts are reasoning', () => {
      const acc = new ChatStreamAccumulator();
      const deltas = acc.push(
        chunk({
          content: [
            { type: 'thinking', thinking: [{ type: 'text', text: 'hmm' }] },
            { type: 'text', text: '4' },
            { type: 'reference', reference_ids: [1] },
          ],
        }),
      );
      assert.deepEqual(deltas, [
        { kind: 'reasoning', text: 'hmm' },
        { kind: 'text', text: '4' },
      ]);
      acc.push(chunk({ content: [{ type: 'thinking', thinking: ' plain' }] }));
      assert.equal(acc.result().reasoning, 'hmm plain');
      assert.equal(acc.result().content, '4');
    });

    it('keeps inline <think> tags in content, as the provider sent them', () => {
      const result = feed([chunk({ content: '<think>\nhm' }), chunk({ content: '</think>\n\nHi' })]).result();
      assert.equal(result.content, '<think>\nhm</think>\n\nHi');
      assert.equal(result.reasoning, null);
    });

    it('keeps a refusal apart from content', () => {
      const acc = new ChatStreamAccumulator();
      assert.deepEqual(acc.push(chunk({ content: null, refusal: '' })), []);
      assert.deepEqual(acc.push(chunk({ refusal: "I can't" })), [{ kind: 'refusal', text: "I can't" }]);
      assert.equal(acc.result().refusal, "I can't");
      assert.equal(acc.result().content, null);
    });

    it('tolerates deltas where every key is present and null (Azure DeepSeek)', () => {
      const result = feed([
        chunk({ role: null, content: null, reasoning_content: null, tool_calls: null }),
        chunk({ role: null, content: 'ok', reasoning_content: null, tool_calls: null }),
      ]).result();
      assert.equal(result.content, 'ok');
      assert.deepEqual(result.toolCalls, []);
    });
  });

  describe('choices', () => {
    it('reads only choice index 0 of an n>1 stream, whatever its position in the array', () => {
      const result = feed([
        chunk({ content: 'zero' }, { index: 0 }),
        chunk({ content: 'one' }, { index: 1 }),
        {
          choices: [
            { index: 2, delta: { content: 'two' } },
            { index: 0, delta: { content: '!' } },
          ],
        },
        chunk({}, { index: 1, finish: 'length' }),
        chunk({}, { index: 0, finish: 'stop' }),
        chunk({}, { index: 2, finish: 'content_filter' }),
      ]).result();
      assert.equal(result.content, 'zero!');
      assert.equal(result.finishReason, 'stop');
    });

    it('treats a choice without index as index 0', () => {
      assert.equal(feed([{ choices: [{ delta: { content: 'x' } }] }]).result().content, 'x');
    });

    it('accepts chunks with empty choices (prompt filter results, moderation)', () => {
      const acc = new ChatStreamAccumulator();
      assert.deepEqual(acc.push({ id: '', choices: [], prompt_filter_results: [{ prompt_index: 0 }] }), []);
      assert.deepEqual(acc.push({ choices: [], moderation: { flagged: false } }), []);
      assert.equal(acc.result().content, null);
    });
  });

  describe('finish reason and usage', () => {
    it('keeps the last non-null finish reason', () => {
      const result = feed([chunk({}, { finish: 'tool_calls' }), chunk({}, { finish: null })]).result();
      assert.equal(result.finishReason, 'tool_calls');
    });

    it('keeps the last non-null usage when a provider sends it on every chunk (Gemini)', () => {
      const result = feed([
        chunk({ content: 'a' }, { usage: { prompt_tokens: 4, completion_tokens: 0 } }),
        chunk({ content: 'b' }, { usage: { prompt_tokens: 3, completion_tokens: 11 }, finish: 'stop' }),
        chunk({}, { usage: null }),
      ]).result();
      assert.deepEqual(result.usage, { prompt_tokens: 3, completion_tokens: 11 });
    });

    it('keeps usage sent on the finish chunk (Groq, DeepSeek) or in a trailing choices:[] chunk (OpenAI)', () => {
      const onFinish = feed([chunk({}, { finish: 'stop', usage: { total_tokens: 5 } })]).result();
      assert.deepEqual(onFinish.usage, { total_tokens: 5 });
      const trailing = feed([chunk({}, { finish: 'stop' }), usageChunk({ total_tokens: 7, cost: 0.1 })]).result();
      assert.deepEqual(trailing.usage, { total_tokens: 7, cost: 0.1 });
    });

    it('keeps the provider usage object as sent, unknown fields included', () => {
      const usage = { prompt_tokens: 1, prompt_tokens_details: null, reasoning_tokens: 0, cost_in_usd_ticks: 9 };
      assert.deepEqual(feed([usageChunk(usage)]).result().usage, usage);
    });

    it('falls back to x_groq.usage when there is no top-level usage', () => {
      const result = feed([{ choices: [], x_groq: { id: 'req', usage: { total_tokens: 3 } } }]).result();
      assert.deepEqual(result.usage, { total_tokens: 3 });
    });
  });

  describe('errors', () => {
    it('throws MalformedChunkError for a chunk that is not shaped like one', () => {
      const acc = new ChatStreamAccumulator();
      assert.throws(() => acc.push({ choices: [{ index: 0, delta: { content: 42 } }] }), MalformedChunkError);
      assert.throws(() => acc.push({ choices: 'nope' }), MalformedChunkError);
      assert.throws(
        () => acc.push(chunk({ tool_calls: [{ index: 0, function: { arguments: { a: 1 } } }] })),
        MalformedChunkError,
      );
    });

    it('throws ProviderStreamError for an error payload that reaches it', () => {
      const acc = new ChatStreamAccumulator();
      assert.throws(
        () => acc.push({ error: { message: 'overloaded', code: 'server_busy', type: 'server_error' } }),
        (err: unknown) =>
          err instanceof ProviderStreamError &&
          err.message === 'overloaded' &&
          err.code === 'server_busy' &&
          err.errorType === 'server_error',
      );
      assert.throws(
        () => acc.push({ message: 'boom' }),
        (err: unknown) => err instanceof ProviderStreamError && err.message === 'boom',
      );
    });
  });

  describe('recorded fixtures parsed without a server', () => {
    it('assembles the OpenAI parallel tool calls', () => {
      const acc = feed(payloadsOf(fixture('openai-gpt4o-parallel-tool-calls.sse')));
      assert.deepEqual(
        acc.result().toolCalls.map((c): unknown[] => [c.id, c.function.name, JSON.parse(c.function.arguments)]),
        [
          ['call_JMW1whyEaYG438VE1OIflxA2', 'GetWeatherArgs', { city: 'Edinburgh', country: 'GB', units: 'c' }],
          ['call_DNYTawLBoN8fj3KN6qU9N1Ou', 'get_stock_price', { ticker: 'AAPL', exchange: 'NASDAQ' }],
        ],
      );
    });

    it('separates Magistral thinking from its answer', () => {
      const result = feed(payloadsOf(fixture('mistral-magistral-reasoning-content-array.sse'))).result();
      assert.equal(result.content, '2 + 2 = 4');
      assert.equal(result.reasoning, 'The user is asking for 2+2. This is basic arithmetic. 2+2=4.');
    });

    it('reads the refusal of the refusal fixture', () => {
      const result = feed(payloadsOf(fixture('openai-gpt4o-refusal.sse'))).result();
      assert.equal(result.refusal, "I'm sorry, I can't assist with that request.");
      assert.equal(result.content, null);
    });

    it('reads reasoning of the DeepSeek reasoner before its tool call', () => {
      const result = feed(payloadsOf(fixture('deepseek-reasoner-tool-call.sse'))).result();
      assert.match(result.reasoning ?? '', /^The user/);
      assert.equal(result.toolCalls.length, 1);
    });
  });
});
