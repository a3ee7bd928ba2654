import assert from 'node:assert/strict';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import {
  ChatStreamAccumulator,
  ChatStreamError,
  LlmFailureType,
  MalformedChunkError,
  ProviderStreamError,
  isAbort,
  providerErrorOf,
  redact,
  toLlmFailure,
} from '../../activities/llm';

const body = (message: string, extra: Record<string, unknown> = {}) => ({ error: { message, ...extra } });
const httpError = (status: number, headers: Record<string, string> = {}, message = 'nope'): APIError =>
  APIError.generate(
    status,
    body(message, { type: 'invalid_request_error', code: 'some_code', param: null }),
    undefined,
    new Headers(headers),
  );

function details(failure: ApplicationFailure): Record<string, unknown> {
  return failure.details?.[0] as Record<string, unknown>;
}

const empty = new ChatStreamAccumulator();

describe('toLlmFailure', () => {
  describe('HTTP errors', () => {
    const cases: [number, string, boolean][] = [
      [400, LlmFailureType.badRequest, true],
      [401, LlmFailureType.unauthorized, true],
      [403, LlmFailureType.forbidden, true],
      [404, LlmFailureType.notFound, true],
      [422, LlmFailureType.unprocessable, true],
      [408, LlmFailureType.timeout, false],
      [409, LlmFailureType.conflict, false],
      [429, LlmFailureType.rateLimited, false],
      [500, LlmFailureType.serverError, false],
      [502, LlmFailureType.serverError, false],
      [503, LlmFailureType.serverError, false],
      [413, LlmFailureType.clientError, true],
    ];
    for (const [status, type, nonRetryable] of cases) {
      it(`maps ${status} to ${nonRetryable ? 'non-retryable' : 'retryable'} ${type}, keeping the provider's text out of the failure`, () => {
        const err = httpError(status, { 'x-request-id': 'req_1' }, 'provider says no');
        const failure = toLlmFailure(err);
        assert.ok(failure instanceof ApplicationFailure);
        assert.equal(failure.type, type);
        assert.equal(failure.nonRetryable, nonRetryable);
        // The provider's message may quote the conversation: it stays out of what Temporal records.
        assert.equal(failure.cause, undefined);
        assert.equal(providerErrorOf(failure), err, 'the original is kept for the log');
        assert.equal(failure.message, `LLM provider returned ${status} (some_code)`);
        assert.deepEqual(details(failure), {
          status,
          code: 'some_code',
          type: 'invalid_request_error',
          param: null,
          requestId: 'req_1',
        });
      });
    }

    it('takes nextRetryDelay of a 429 from retry-after-ms', () => {
      const failure = toLlmFailure(httpError(429, { 'retry-after-ms': '1500', 'retry-after': '9' }));
      assert.equal(failure.nextRetryDelay, 1500);
    });

    it('takes nextRetryDelay of a 429 from retry-after in seconds', () => {
      assert.equal(toLlmFailure(httpError(429, { 'retry-after': '2' })).nextRetryDelay, 2000);
      assert.equal(toLlmFailure(httpError(429, { 'retry-after': '0.5' })).nextRetryDelay, 500);
    });

    it('takes nextRetryDelay of a 429 from retry-after as an HTTP date', () => {
      const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
      const failure = toLlmFailure(httpError(429, { 'retry-after': 'Wed, 21 Oct 2015 07:28:30 GMT' }), {
        now: () => now,
      });
      assert.equal(failure.nextRetryDelay, 30_000);
    });

    it('leaves nextRetryDelay unset without a usable hint', () => {
      assert.equal(toLlmFailure(httpError(429)).nextRetryDelay, undefined);
      assert.equal(toLlmFailure(httpError(429, { 'retry-after': 'soon' })).nextRetryDelay, undefined);
      assert.equal(toLlmFailure(httpError(429, { 'retry-after': '-3' })).nextRetryDelay, undefined);
      const past = toLlmFailure(httpError(429, { 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }));
      assert.equal(past.nextRetryDelay, undefined);
    });

    it('honours retry-after on a retryable 503 but not on a non-retryable 400', () => {
      assert.equal(toLlmFailure(httpError(503, { 'retry-after': '3' })).nextRetryDelay, 3000);
      assert.equal(toLlmFailure(httpError(400, { 'retry-after': '3' })).nextRetryDelay, undefined);
    });

    it('lets x-should-retry override the status rule, as contrib/openai-agents does', () => {
      const no = toLlmFailure(httpError(500, { 'x-should-retry': 'false' }));
      assert.equal(no.type, LlmFailureType.serverError);
      assert.equal(no.nonRetryable, true);
      const yes = toLlmFailure(httpError(400, { 'x-should-retry': 'true' }));
      assert.equal(yes.type, LlmFailureType.badRequest);
      assert.equal(yes.nonRetryable, false);
    });

    it('never puts API keys or Authorization headers in the message or details', () => {
      const err = httpError(
        401,
        { authorization: 'Bearer sk-secretsecretsecret', 'x-request-id': 'req_2' },
        'Incorrect API key provided: sk-proj-abcdef123456. Header was Bearer sk-proj-abcdef123456',
      );
      const failure = toLlmFailure(err);
      const text = `${failure.message} ${JSON.stringify(failure.details)}`;
      assert.doesNotMatch(text, /abcdef123456|secretsecret|Incorrect API key/);
    });
  });

  describe('connection and stream errors', () => {
    it('maps APIConnectionError and timeouts to retryable llm.network', () => {
      for (const err of [new APIConnectionError({ message: 'Connection error.' }), new APIConnectionTimeoutError()]) {
        const failure = toLlmFailure(err);
        assert.equal(failure.type, LlmFailureType.network);
        assert.equal(failure.nonRetryable, false);
        assert.equal(providerErrorOf(failure), err);
      }
    });

    it('maps a dropped body (undici "terminated") to retryable llm.network', () => {
      const socket = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
      const err = new TypeError('terminated', { cause: socket });
      const failure = toLlmFailure(err);
      assert.equal(failure.type, LlmFailureType.network);
      assert.equal(failure.nonRetryable, false);
      assert.match(failure.message, /other side closed/);
    });

    it('maps unparseable JSON and malformed chunks to retryable llm.malformed_stream', () => {
      for (const err of [new SyntaxError('Unexpected end of JSON input'), new MalformedChunkError('bad')]) {
        const failure = toLlmFailure(err);
        assert.equal(failure.type, LlmFailureType.malformedStream);
        assert.equal(failure.nonRetryable, false);
      }
    });

    it('maps an in-stream error event (status-less APIError) to retryable llm.stream_error with the code, not the message', () => {
      const err = new APIError(
        undefined,
        { message: 'Tool call validation failed', code: 'tool_use_failed', type: 'invalid_request_error' },
        undefined,
        undefined,
      );
      const failure = toLlmFailure(err);
      assert.equal(failure.type, LlmFailureType.streamError);
      assert.equal(failure.nonRetryable, false);
      assert.equal(providerErrorOf(failure), err);
      assert.doesNotMatch(failure.message, /validation failed/);
      assert.deepEqual(details(failure), {
        code: 'tool_use_failed',
        type: 'invalid_request_error',
        param: null,
      });
    });

    it('maps a ProviderStreamError to llm.stream_error', () => {
      const failure = toLlmFailure(new ProviderStreamError('boom', 'c1', 't1'));
      assert.equal(failure.type, LlmFailureType.streamError);
      assert.equal(details(failure)['code'], 'c1');
    });

    it('maps a ChatStreamError by its kind and reports how far the stream got', () => {
      const partial = { ...empty.result(), content: 'Hello' };
      const inStream = new APIError(undefined, { message: 'overloaded', code: 'busy' }, undefined, undefined);
      const provider = toLlmFailure(new ChatStreamError('provider', partial, [], 12, inStream));
      assert.equal(provider.type, LlmFailureType.streamError);
      assert.equal(provider.nonRetryable, false);
      assert.deepEqual(details(provider), {
        code: 'busy',
        type: null,
        param: null,
        chunks: 12,
        contentChars: 5,
        toolCalls: 0,
      });
      const network = toLlmFailure(new ChatStreamError('network', partial, [], 3, new TypeError('terminated')));
      assert.equal(network.type, LlmFailureType.network);
      const malformed = toLlmFailure(new ChatStreamError('malformed', partial, [], 3, new SyntaxError('x')));
      assert.equal(malformed.type, LlmFailureType.malformedStream);
      assert.ok(providerErrorOf(malformed) instanceof ChatStreamError);
    });

    it('maps anything else to retryable llm.unknown and wraps non-Error values', () => {
      const failure = toLlmFailure('weird');
      assert.equal(failure.type, LlmFailureType.unknown);
      assert.equal(failure.nonRetryable, false);
      assert.ok(providerErrorOf(failure) instanceof Error);
      assert.doesNotMatch(failure.message, /weird/);
    });

    it('returns an ApplicationFailure unchanged', () => {
      const failure = ApplicationFailure.nonRetryable('x', 'other');
      assert.equal(toLlmFailure(failure), failure);
    });
  });

  describe('aborts', () => {
    const aborts: [string, unknown][] = [
      ['APIUserAbortError', new APIUserAbortError()],
      ['CancelledFailure', new CancelledFailure('CANCELLED')],
      ['DOM AbortError', Object.assign(new Error('aborted'), { name: 'AbortError' })],
      ['aborted ChatStreamError', new ChatStreamError('aborted', empty.result(), [], 0, new APIUserAbortError())],
    ];
    for (const [name, err] of aborts) {
      it(`treats ${name} as cancellation: isAbort is true and toLlmFailure rethrows it unchanged`, () => {
        assert.equal(isAbort(err), true);
        assert.throws(
          () => toLlmFailure(err),
          (thrown: unknown) => thrown === err,
        );
      });
    }

    it('does not treat failures as aborts', () => {
      assert.equal(isAbort(httpError(500)), false);
      assert.equal(isAbort(new APIConnectionError({ message: 'x' })), false);
      assert.equal(isAbort(new ChatStreamError('network', empty.result(), [], 0, new Error('x'))), false);
    });
  });
});

describe('redact', () => {
  it('masks OpenAI-style keys, bearer tokens and api_key pairs', () => {
    assert.equal(redact('key sk-abc123def456 used'), 'key sk-*** used');
    assert.equal(redact('Authorization: Bearer abc.def'), 'Authorization: Bearer ***');
    assert.equal(redact('url?api_key=xyz&x=1'), 'url?api_key=***&x=1');
    assert.equal(redact('nothing secret'), 'nothing secret');
  });
});
