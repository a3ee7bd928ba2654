import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
  ChatStreamError,
  chatChunkStream,
  LlmFailureType,
  MalformedChunkError,
  isAbort,
  openChatChunkStream,
  readChatStream,
  toLlmFailure,
} from '../../activities/llm';
import type { StreamDelta } from '../../activities/llm';
import { startScriptedLlm } from '../../scripted-llm';
import type { ScriptInput, ScriptedLlm } from '../../scripted-llm';

describe('readChatStream over the real openai client', () => {
  let llm: ScriptedLlm;
  let client: OpenAI;

  before(async () => {
    llm = await startScriptedLlm({ port: 0 });
    client = new OpenAI({ baseURL: llm.baseURL, apiKey: 'test', maxRetries: 0, logLevel: 'off' });
  });
  after(async () => {
    await llm.close();
  });
  afterEach(() => {
    llm.reset();
  });

  async function open(script: ScriptInput, signal?: AbortSignal) {
    llm.enqueue(script);
    return openChatChunkStream(
      client.chat.completions.create(
        {
          model: 'test',
          messages: [{ role: 'user', content: 'hi' }],
          stream: true,
          stream_options: { include_usage: true },
        },
        signal === undefined ? {} : { signal },
      ),
    );
  }

  async function streamFailure(promise: Promise<unknown>): Promise<ChatStreamError> {
    try {
      await promise;
    } catch (err: unknown) {
      if (err instanceof ChatStreamError) return err;
      throw err;
    }
    assert.fail('expected the stream to fail');
  }

  it('hands every delta to onDelta in order, before the stream ends', async () => {
    const seen: StreamDelta[] = [];
    const stream = await open({
      steps: [{ text: 'one two three', chunkSize: 4 }],
      usage: { prompt_tokens: 1, completion_tokens: 3 },
    });
    const { message, chunks } = await readChatStream(stream, { onDelta: (d) => void seen.push(d) });
    assert.equal(seen.map((d) => d.text).join(''), 'one two three');
    assert.ok(seen.every((d) => d.kind === 'text'));
    assert.equal(message.content, 'one two three');
    assert.equal(message.finishReason, 'stop');
    assert.deepEqual(message.usage, { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 });
    assert.ok(chunks >= 4);
  });

  it('throws a ChatStreamError of kind provider, with the partial message, for an in-stream error event', async () => {
    const stream = await open({
      steps: [{ text: 'partial answer', chunkSize: 100 }],
      errorEventAfterChunks: 2,
      errorEvent: { message: 'model overloaded', type: 'server_error', code: 'overloaded' },
    });
    const err = await streamFailure(readChatStream(stream));
    assert.equal(err.kind, 'provider');
    assert.equal(err.message, 'model overloaded');
    assert.equal(err.partial.content, 'partial answer');
    assert.ok(err.cause instanceof OpenAI.APIError);
    const failure = toLlmFailure(err);
    assert.equal(failure.type, LlmFailureType.streamError);
    assert.equal(failure.nonRetryable, false);
    assert.equal((failure.details?.[0] as Record<string, unknown>)['code'], 'overloaded');
  });

  it('throws a ChatStreamError of kind network when the connection drops mid-stream', async () => {
    const stream = await open({ steps: [{ text: 'a b c d e f', chunkSize: 2 }], dropAfterChunks: 3 });
    const err = await streamFailure(readChatStream(stream));
    assert.equal(err.kind, 'network');
    assert.ok((err.partial.content ?? '').length > 0);
    assert.equal(toLlmFailure(err).type, LlmFailureType.network);
  });

  it('throws a retryable llm.truncated failure when the body ends cleanly without [DONE] or a finish_reason', async () => {
    // One text chunk, then a well-formed end of the body: the finish chunk, usage and [DONE] never come.
    const stream = await open({ steps: [{ text: 'The first word', chunkSize: 100 }], closeAfterChunks: 1 });
    const err = await streamFailure(readChatStream(stream));
    assert.equal(err.kind, 'truncated');
    assert.equal(err.partial.content, 'The first word');
    assert.equal(err.partial.finishReason, null);
    const failure = toLlmFailure(err);
    assert.equal(failure.type, LlmFailureType.truncated);
    assert.equal(failure.nonRetryable, false);
  });

  it('reads a stream cut after its finish chunk as complete, since the provider said it finished', async () => {
    // Chunk 1: text; chunk 2: finish_reason stop; the usage chunk and [DONE] are cut.
    const stream = await open({ steps: [{ text: 'whole answer', chunkSize: 100 }], closeAfterChunks: 2 });
    const { message } = await readChatStream(stream);
    assert.equal(message.content, 'whole answer');
    assert.equal(message.finishReason, 'stop');
  });

  it('reads a stream that sent [DONE] but no finish_reason as complete, reporting no finish reason', async () => {
    const stream = await open({ steps: [{ text: 'answer', chunkSize: 100 }], finishReason: null });
    const { message } = await readChatStream(stream);
    assert.equal(message.content, 'answer');
    assert.equal(message.finishReason, null);
  });

  it('throws a ChatStreamError of kind malformed when a payload is not JSON', async () => {
    const stream = await open({ steps: [{ text: 'a b c d', chunkSize: 2 }], malformedAfterChunks: 2 });
    const err = await streamFailure(readChatStream(stream));
    assert.equal(err.kind, 'malformed');
    assert.ok(err.cause instanceof SyntaxError);
    assert.equal(toLlmFailure(err).type, LlmFailureType.malformedStream);
  });

  it('throws a ChatStreamError of kind malformed for a chunk nested 10,000 levels deep, without a stack overflow', async () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const first = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm' };
    for (const payload of [
      `{"error":{"message":"x","details":${deep}}}`,
      JSON.stringify({ ...first, choices: [{ index: 0, delta: { content: 'a' }, finish_reason: null }] }).replace(
        /}$/,
        `,"x_groq":${deep}}`,
      ),
    ]) {
      const body =
        `data: ${JSON.stringify({ ...first, choices: [{ index: 0, delta: { content: 'hi' } }] })}\n\n` +
        `data: ${payload}\n\ndata: [DONE]\n\n`;
      const err = await streamFailure(readChatStream(chatChunkStream(new Response(body))));
      assert.equal(err.kind, 'malformed');
      assert.ok(err.cause instanceof MalformedChunkError);
      assert.match(err.cause.message, /nests arrays and objects more than 64 levels deep/);
      assert.equal(err.partial.content, 'hi');
      assert.equal(toLlmFailure(err).type, LlmFailureType.malformedStream);
    }
  });

  it('reports an abort through the signal instead of returning a truncated message', async () => {
    const controller = new AbortController();
    const stream = await open(
      { steps: [{ text: 'first' }, { waitFor: 'never' }, { text: 'second' }] },
      controller.signal,
    );
    const err = await streamFailure(
      readChatStream(stream, {
        signal: controller.signal,
        onDelta: () => controller.abort(),
      }),
    );
    assert.equal(err.kind, 'aborted');
    assert.equal(isAbort(err), true);
    assert.equal(err.partial.content, 'first');
    assert.throws(
      () => toLlmFailure(err),
      (thrown: unknown) => thrown === err,
    );
  });

  it('propagates an onDelta error unchanged and stops reading', async () => {
    const boom = new Error('persisting failed');
    const stream = await open({ steps: [{ text: 'a b c', chunkSize: 1 }] });
    let calls = 0;
    await assert.rejects(
      readChatStream(stream, {
        onDelta: () => {
          calls += 1;
          throw boom;
        },
      }),
      (err: unknown) => err === boom,
    );
    assert.equal(calls, 1);
  });

  it('surfaces an HTTP error from create() that toLlmFailure maps with Retry-After', async () => {
    llm.enqueue({ httpError: { status: 429, headers: { 'retry-after': '2' } } });
    const err: unknown = await client.chat.completions
      .create({ model: 'test', messages: [{ role: 'user', content: 'hi' }], stream: true })
      .then(
        () => assert.fail('expected a 429'),
        (e: unknown) => e,
      );
    const failure = toLlmFailure(err);
    assert.equal(failure.type, LlmFailureType.rateLimited);
    assert.equal(failure.nonRetryable, false);
    assert.equal(failure.nextRetryDelay, 2000);
  });
});
