import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveFixturesDir, ScriptError, startScriptedLlm } from '../../scripted-llm';
import type { ScriptedLlm } from '../../scripted-llm';
import { collect, openaiFor, streamChat } from './helpers';

const FIXTURES = [
  'openai-gpt4o-text-usage.sse',
  'groq-gptoss-tool-use-failed-error-event.sse',
  'openrouter-deepseek-keepalive-tool-call.sse',
  'together-hfrouter-deepseek-r1-think-tags.sse',
];

async function rawCompletion(llm: ScriptedLlm): Promise<Response> {
  return fetch(`${llm.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer test' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true }),
  });
}

/** Tool call arguments per index, read straight from a fixture file's data lines. */
function argumentsIn(file: string): string[] {
  const args: string[] = [];
  for (const line of file.split('\n')) {
    if (!line.startsWith('data: {')) continue;
    const chunk = JSON.parse(line.slice('data: '.length)) as {
      choices: { delta?: { tool_calls?: { index: number; function?: { arguments?: string } }[] } }[];
    };
    for (const call of chunk.choices[0]?.delta?.tool_calls ?? []) {
      args[call.index] = (args[call.index] ?? '') + (call.function?.arguments ?? '');
    }
  }
  return args;
}

describe('scripted LLM: fixture replay', () => {
  let llm: ScriptedLlm;
  const dir = resolveFixturesDir();

  before(async () => {
    llm = await startScriptedLlm();
  });
  afterEach(() => llm.reset());
  after(async () => {
    await llm.close();
  });

  for (const fixture of FIXTURES) {
    it(`replays ${fixture} byte for byte as text/event-stream`, async () => {
      llm.enqueue([{ fixture }]);
      const res = await rawCompletion(llm);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      const body = Buffer.from(await res.arrayBuffer());
      assert.ok(body.equals(await readFile(path.join(dir, fixture))));
    });
  }

  it('replays byte for byte when paced event by event and when given a file path', async () => {
    const file = path.join(dir, 'openai-gpt4o-strict-tool-call.sse');
    llm.enqueue({ steps: [{ fixture: file, delayMs: 2 }] });
    const body = Buffer.from(await (await rawCompletion(llm)).arrayBuffer());
    assert.ok(body.equals(await readFile(file)));
  });

  it('feeds a replayed recording to the openai client, parallel tool calls intact', async () => {
    const fixture = 'openai-gpt4o-parallel-tool-calls.sse';
    llm.enqueue([{ fixture }]);
    const chunks = await collect(await streamChat(openaiFor(llm)));
    const received: string[] = [];
    for (const chunk of chunks) {
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) {
        received[call.index] = (received[call.index] ?? '') + (call.function?.arguments ?? '');
      }
    }
    assert.deepEqual(received, argumentsIn(await readFile(path.join(dir, fixture), 'utf8')));
    assert.equal(received.length, 2);
  });

  it('rejects a script naming a missing fixture when it is queued', () => {
    assert.throws(() => llm.enqueue([{ fixture: 'no-such-recording.sse' }]), ScriptError);
  });

  it('rejects a script mixing a fixture with generated text', () => {
    assert.throws(() => llm.enqueue([{ fixture: FIXTURES[0]! }, { text: 'extra' }]), ScriptError);
  });
});
