import assert from 'node:assert/strict';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { startScriptedLlm } from '../../scripted-llm';
import type { ChunkSentInfo, ScriptedLlm } from '../../scripted-llm';
import { collect, collectUntilError, openaiFor, settlesWithin, streamChat, textOf } from './helpers';

describe('scripted LLM: streaming', () => {
  let llm: ScriptedLlm;

  before(async () => {
    llm = await startScriptedLlm();
  });
  afterEach(() => llm.reset());
  after(async () => {
    await llm.close();
  });

  it('streams a text script as several content deltas that join to the text', async () => {
    const text = 'The quick brown fox jumps over the lazy dog.';
    llm.enqueue([{ text }]);
    const chunks = await collect(await streamChat(openaiFor(llm)));
    const contentChunks = chunks.filter((chunk) => typeof chunk.choices[0]?.delta.content === 'string');
    assert.equal(textOf(chunks), text);
    assert.equal(contentChunks.length, text.split(' ').length);
    assert.equal(chunks[0]?.choices[0]?.delta.role, 'assistant');
    assert.equal(chunks[0]?.object, 'chat.completion.chunk');
    assert.equal(chunks[0]?.model, 'gpt-test');
    const finish = chunks.find((chunk) => chunk.choices[0]?.finish_reason != null);
    assert.equal(finish?.choices[0]?.finish_reason, 'stop');
  });

  it('splits text into pieces of chunkSize characters when asked', async () => {
    llm.enqueue([{ text: 'abcdefghij', chunkSize: 4 }]);
    const chunks = await collect(await streamChat(openaiFor(llm)));
    const pieces = chunks.map((chunk) => chunk.choices[0]?.delta.content).filter((c) => typeof c === 'string');
    assert.deepEqual(pieces, ['abcd', 'efgh', 'ij']);
  });

  it('delivers tool call arguments split over the requested number of chunks, parallel calls by index', async () => {
    const weather = { id: 'call_w', name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}', argChunks: 4 };
    const time = { id: 'call_t', name: 'get_current_time', arguments: '{"timezone":"UTC"}', argChunks: 2 };
    llm.enqueue([{ toolCalls: [weather, time] }]);
    const chunks = await collect(await streamChat(openaiFor(llm)));
    const deltas = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);

    for (const [index, call] of [weather, time].entries()) {
      const mine = deltas.filter((delta) => delta.index === index);
      assert.deepEqual(mine[0], { index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } });
      const argPieces = mine.slice(1).map((delta) => delta.function?.arguments);
      assert.equal(argPieces.length, call.argChunks);
      assert.equal(argPieces.join(''), call.arguments);
      assert.ok(mine.slice(1).every((delta) => delta.id === undefined && delta.function?.name === undefined));
    }
    const finish = chunks.find((chunk) => chunk.choices[0]?.finish_reason != null);
    assert.equal(finish?.choices[0]?.finish_reason, 'tool_calls');
  });

  it('sends a final usage chunk with empty choices only when include_usage is requested', async () => {
    const usage = { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 };
    llm.enqueue({ steps: [{ text: 'one two three' }], usage }, { steps: [{ text: 'one two three' }], usage });
    const withUsage = await collect(await streamChat(openaiFor(llm), undefined, true));
    const withoutUsage = await collect(await streamChat(openaiFor(llm), undefined, false));

    const last = withUsage[withUsage.length - 1];
    assert.deepEqual(last?.choices, []);
    assert.deepEqual(last?.usage, usage);
    assert.equal(withUsage.filter((chunk) => chunk.usage != null).length, 1);
    assert.equal(withoutUsage.filter((chunk) => chunk.usage != null || chunk.choices.length === 0).length, 0);
    assert.equal(textOf(withoutUsage), 'one two three');
  });

  it('records requests with messages, tools, model and stream options but never the API key', async () => {
    const apiKey = 'sk-secret-never-stored-123';
    const tools = [
      { type: 'function' as const, function: { name: 'calculate', parameters: { type: 'object', properties: {} } } },
    ];
    const messages = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: 'What is 2+2?' },
    ];
    llm.enqueue([{ text: 'Four.' }]);
    const stream = await openaiFor(llm, apiKey).chat.completions.create({
      model: 'gpt-recorded',
      messages,
      tools,
      stream: true,
      stream_options: { include_usage: true },
    });
    await collect(stream);

    assert.equal(llm.requests.length, 1);
    const [request] = llm.requests;
    assert.deepEqual(request?.body.messages, messages);
    assert.deepEqual(request?.body.tools, tools);
    assert.equal(request?.body.model, 'gpt-recorded');
    assert.deepEqual(request?.body.stream_options, { include_usage: true });
    assert.equal(request?.hasAuthorization, true);
    assert.equal(request?.headers['authorization'], undefined);
    assert.equal(request?.outcome, 'completed');
    assert.equal(request?.source, 'queue');
    assert.ok(!JSON.stringify(llm.requests).includes(apiKey));
  });

  it('asks the responder for a script per request when the queue is empty, so concurrent turns get their own answers', async () => {
    llm.respond((request) => {
      const last = request.body.messages[request.body.messages.length - 1];
      return [{ text: `echo: ${String(last?.content)}` }];
    });
    const prompts = Array.from({ length: 50 }, (_unused, i) => `prompt number ${i}`);
    const client = openaiFor(llm);
    const answers = await Promise.all(
      prompts.map(async (content) => textOf(await collect(await streamChat(client, [{ role: 'user', content }])))),
    );
    assert.deepEqual(
      answers,
      prompts.map((prompt) => `echo: ${prompt}`),
    );
    assert.ok(llm.requests.every((request) => request.source === 'responder'));
  });

  it('takes queued scripts first in FIFO order before the responder', async () => {
    llm.enqueue([{ text: 'first' }], [{ text: 'second' }]);
    llm.respond(() => [{ text: 'from responder' }]);
    const client = openaiFor(llm);
    const texts: string[] = [];
    for (let i = 0; i < 3; i++) texts.push(textOf(await collect(await streamChat(client))));
    assert.deepEqual(texts, ['first', 'second', 'from responder']);
  });

  it('holds the stream at a gate until it is released', async () => {
    llm.enqueue([{ text: 'before' }, { waitFor: 'mid' }, { text: ' after' }]);
    const stream = await streamChat(openaiFor(llm));
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    assert.equal((first.value as ChatCompletionChunk).choices[0]?.delta.content, 'before');
    await llm.gateReached('mid');

    const next = iterator.next();
    assert.equal(await settlesWithin(next, 200), 'pending');
    llm.release('mid');
    const afterGate = await next;
    assert.equal((afterGate.value as ChatCompletionChunk).choices[0]?.delta.content, ' after');
    const rest: ChatCompletionChunk[] = [];
    for (let r = await iterator.next(); r.done !== true; r = await iterator.next()) rest.push(r.value);
    assert.equal(rest[0]?.choices[0]?.finish_reason, 'stop');
  });

  it('stops the script promptly when the client aborts, leaving nothing running', async () => {
    const words = Array.from({ length: 100 }, (_unused, i) => `w${i}`).join(' ');
    llm.enqueue({ steps: [{ text: words }], delayMs: 20 });
    const stream = await streamChat(openaiFor(llm));
    let received = 0;
    for await (const _chunk of stream) {
      received += 1;
      if (received === 3) stream.controller.abort();
    }
    const started = performance.now();
    await llm.idle();
    assert.ok(performance.now() - started < 2000, 'the script should end right after the abort');
    const [request] = llm.requests;
    assert.equal(request?.outcome, 'aborted');
    assert.ok(request !== undefined && request.chunksSent < 10, `sent ${request?.chunksSent} chunks`);
    const sentAtAbort = request.chunksSent;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(request.chunksSent, sentAtAbort);
  });

  it('ends streams held at a gate when reset, so nothing outlives a test', async () => {
    llm.enqueue([{ text: 'held' }, { waitFor: 'never-released' }, { text: ' unreachable' }]);
    const stream = await streamChat(openaiFor(llm));
    const reading = collectUntilError(stream);
    await llm.gateReached('never-released');
    llm.reset();
    await llm.idle();
    const { chunks, error } = await reading;
    assert.equal(textOf(chunks), 'held');
    assert.ok(error instanceof Error, 'the client sees the stream end early');
  });

  it('reports each chunk sent with its request, position, time and text', async () => {
    const seen: ChunkSentInfo[] = [];
    llm.onChunkSent = (info) => seen.push(info);
    try {
      llm.enqueue([{ text: 'alpha beta' }]);
      const before = performance.timeOrigin + performance.now();
      await collect(await streamChat(openaiFor(llm)));
      assert.deepEqual(
        seen.map((info) => [info.requestIndex, info.chunkIndex, info.text]),
        [
          [0, 0, 'alpha'],
          [0, 1, ' beta'],
          [0, 2, undefined], // finish
          [0, 3, undefined], // usage
        ],
      );
      assert.ok(
        seen.every((info) => info.sentAt >= before && info.sentAt <= performance.timeOrigin + performance.now()),
      );
    } finally {
      llm.onChunkSent = undefined;
    }
  });

  it('paces chunks with firstChunkDelayMs and delayMs', async () => {
    llm.enqueue({ steps: [{ text: 'a b c' }], firstChunkDelayMs: 150, delayMs: 50 });
    const started = performance.now();
    const stream = await streamChat(openaiFor(llm), undefined, false);
    const arrivals: number[] = [];
    for await (const _chunk of stream) arrivals.push(performance.now() - started);
    assert.ok((arrivals[0] ?? 0) >= 140, `first chunk after ${arrivals[0]} ms`);
    assert.ok((arrivals[2] ?? 0) - (arrivals[0] ?? 0) >= 90, 'two paced gaps of 50 ms');
  });
});
