import assert from 'node:assert/strict';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { startScriptedLlm } from '../../scripted-llm';
import type { ScriptedLlm } from '../../scripted-llm';
import { collect, openaiFor, textOf } from './helpers';

const TOOLS: ChatCompletionTool[] = ['get_current_time', 'calculate'].map((name) => ({
  type: 'function',
  function: { name, parameters: { type: 'object', properties: {} } },
}));

describe('scripted LLM: demo model (no script queued)', () => {
  let llm: ScriptedLlm;

  before(async () => {
    llm = await startScriptedLlm();
  });
  afterEach(() => llm.reset());
  after(async () => {
    await llm.close();
  });

  async function ask(messages: ChatCompletionMessageParam[], tools: ChatCompletionTool[] = TOOLS) {
    const stream = await openaiFor(llm).chat.completions.create({ model: 'demo', messages, tools, stream: true });
    const chunks = await collect(stream);
    const calls = new Map<number, { name: string; arguments: string }>();
    for (const chunk of chunks) {
      for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) {
        const call = calls.get(delta.index) ?? { name: '', arguments: '' };
        call.name += delta.function?.name ?? '';
        call.arguments += delta.function?.arguments ?? '';
        calls.set(delta.index, call);
      }
    }
    const finish = chunks.find((chunk) => chunk.choices[0]?.finish_reason != null)?.choices[0]?.finish_reason;
    return { text: textOf(chunks), calls: [...calls.values()], finish };
  }

  it('calls get_current_time when the user asks for the time', async () => {
    const { calls, finish } = await ask([{ role: 'user', content: 'What time is it?' }]);
    assert.deepEqual(calls, [{ name: 'get_current_time', arguments: '{"timezone":"UTC"}' }]);
    assert.equal(finish, 'tool_calls');
  });

  it('calls calculate with the arithmetic expression the user wrote', async () => {
    const { calls } = await ask([{ role: 'user', content: 'Please work out 12 * (3 + 4).' }]);
    assert.deepEqual(calls, [{ name: 'calculate', arguments: '{"expression":"12 * (3 + 4)"}' }]);
  });

  it('does not call tools the request does not offer', async () => {
    const { calls, text } = await ask([{ role: 'user', content: 'What time is it?' }], []);
    assert.deepEqual(calls, []);
    assert.match(text, /What time is it\?/);
  });

  it('summarises tool results when the last message is a tool result', async () => {
    const { text, calls } = await ask([
      { role: 'user', content: 'What time is it?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_current_time', arguments: '{}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"time":"12:00Z"}' },
    ]);
    assert.deepEqual(calls, []);
    assert.match(text, /get_current_time returned \{"time":"12:00Z"\}/);
  });

  it('echoes anything else in a friendly streamed answer', async () => {
    const { text, finish } = await ask([{ role: 'user', content: 'Tell me a story' }]);
    assert.match(text, /Tell me a story/);
    assert.equal(finish, 'stop');
    assert.equal(llm.requests[0]?.source, 'demo');
  });
});
