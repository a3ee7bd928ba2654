import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startScriptedLlm } from '../../scripted-llm';
import type { ScriptedLlm } from '../../scripted-llm';
import { collect, collectUntilError, openaiFor, settlesWithin, streamChat, textOf } from './helpers';

const FIVE_WORDS = 'one two three four five';

describe('scripted LLM: faults', () => {
  let llm: ScriptedLlm;

  before(async () => {
    llm = await startScriptedLlm();
  });
  afterEach(() => llm.reset());
  after(async () => {
    await llm.close();
  });

  it('answers a 429 that surfaces as RateLimitError carrying the retry-after header', async () => {
    llm.enqueue({ httpError: { status: 429, headers: { 'retry-after': '1' } } });
    const err: unknown = await streamChat(openaiFor(llm)).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof OpenAI.RateLimitError, `got ${String(err)}`);
    assert.equal(err.status, 429);
    assert.equal(err.headers.get('retry-after'), '1');
    assert.equal(err.code, 'rate_limit_exceeded');
    assert.equal(llm.requests[0]?.outcome, 'http_error');
  });

  it('answers a 401 that surfaces as AuthenticationError', async () => {
    llm.enqueue({ httpError: { status: 401 } });
    await assert.rejects(streamChat(openaiFor(llm)), OpenAI.AuthenticationError);
  });

  it('answers 500 and 503 as InternalServerError with the scripted message', async () => {
    llm.enqueue({ httpError: { status: 500, message: 'boom' } }, { httpError: { status: 503 } });
    await assert.rejects(streamChat(openaiFor(llm)), (err: unknown) => {
      assert.ok(err instanceof OpenAI.InternalServerError);
      assert.equal(err.status, 500);
      assert.match(err.message, /boom/);
      return true;
    });
    await assert.rejects(streamChat(openaiFor(llm)), OpenAI.InternalServerError);
  });

  it('sends a custom error body verbatim', async () => {
    const body = {
      error: { message: 'context too long', type: 'invalid_request_error', code: 'context_length_exceeded' },
    };
    llm.enqueue({ httpError: { status: 400, body } });
    await assert.rejects(streamChat(openaiFor(llm)), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.equal(err.code, 'context_length_exceeded');
      return true;
    });
  });

  it('drops the connection mid-stream, which surfaces as an error while iterating', async () => {
    llm.enqueue({ steps: [{ text: FIVE_WORDS }], dropAfterChunks: 2 });
    const { chunks, error } = await collectUntilError(await streamChat(openaiFor(llm)));
    assert.ok(error instanceof Error, 'iteration should throw');
    assert.equal(textOf(chunks), FIVE_WORDS.split(' ').slice(0, 2).join(' '));
    assert.equal(llm.requests[0]?.outcome, 'dropped');
  });

  it('sends a malformed data line, which surfaces as a parse error', async () => {
    llm.enqueue({ steps: [{ text: FIVE_WORDS }], malformedAfterChunks: 1 });
    const { chunks, error } = await collectUntilError(await streamChat(openaiFor(llm)));
    assert.ok(error instanceof SyntaxError, `got ${String(error)}`);
    assert.equal(textOf(chunks), 'one');
  });

  it('sends a Groq-style error event, which surfaces as an APIError with its message', async () => {
    const errorEvent = {
      message: 'Tool call validation failed',
      type: 'invalid_request_error',
      code: 'tool_use_failed',
    };
    llm.enqueue({ steps: [{ text: FIVE_WORDS }], errorEventAfterChunks: 3, errorEvent });
    const { chunks, error } = await collectUntilError(await streamChat(openaiFor(llm)));
    assert.ok(error instanceof OpenAI.APIError, `got ${String(error)}`);
    assert.match(error.message, /Tool call validation failed/);
    assert.equal(error.code, 'tool_use_failed');
    assert.equal(textOf(chunks), 'one two three');
    assert.equal(llm.requests[0]?.outcome, 'error_event');
  });

  it('stalls for stallMs and then finishes the stream', async () => {
    llm.enqueue({ steps: [{ text: FIVE_WORDS }], stallAfterChunks: 1, stallMs: 200 });
    const started = performance.now();
    const chunks = await collect(await streamChat(openaiFor(llm)));
    assert.ok(performance.now() - started >= 190);
    assert.equal(textOf(chunks), FIVE_WORDS);
  });

  it('stalls without stallMs until the client gives up', async () => {
    llm.enqueue({ steps: [{ text: FIVE_WORDS }], stallAfterChunks: 1 });
    const stream = await streamChat(openaiFor(llm));
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    assert.equal(await settlesWithin(iterator.next(), 300), 'pending');
    stream.controller.abort();
    await llm.idle();
    assert.equal(llm.requests[0]?.outcome, 'aborted');
    assert.equal(llm.requests[0]?.chunksSent, 1);
  });

  it('sends no finish chunk when finishReason is null', async () => {
    llm.enqueue({ steps: [{ text: 'cut' }], finishReason: null });
    const chunks = await collect(await streamChat(openaiFor(llm), undefined, false));
    assert.ok(chunks.every((chunk) => chunk.choices[0]?.finish_reason == null));
    assert.equal(textOf(chunks), 'cut');
  });
});
