import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { APIConnectionError, APIError, APIUserAbortError } from 'openai';
import { redact } from './redact';
import { retryAfterMs } from './retry-after';
import type { AssembledMessage, DroppedToolCall } from './types';

/** The `type` of every `ApplicationFailure` {@link toLlmFailure} produces. */
export const LlmFailureType = {
  rateLimited: 'llm.rate_limited',
  badRequest: 'llm.bad_request',
  unauthorized: 'llm.unauthorized',
  forbidden: 'llm.forbidden',
  notFound: 'llm.not_found',
  unprocessable: 'llm.unprocessable',
  clientError: 'llm.client_error',
  timeout: 'llm.timeout',
  conflict: 'llm.conflict',
  serverError: 'llm.server_error',
  network: 'llm.network',
  malformedStream: 'llm.malformed_stream',
  truncated: 'llm.truncated',
  streamError: 'llm.stream_error',
  unknown: 'llm.unknown',
} as const;
/** The `type` of an LLM failure. */
export type LlmFailureType = (typeof LlmFailureType)[keyof typeof LlmFailureType];

/** Thrown by `ChatStreamAccumulator.push` when a chunk does not have the shape of a chat completion chunk. */
export class MalformedChunkError extends Error {
  override readonly name = 'MalformedChunkError';

  /** @param issues what was wrong, human readable (zod's prettified issues). */
  constructor(
    readonly issues: string,
    options?: { cause?: unknown },
  ) {
    super(`malformed chat completion chunk: ${issues}`, options);
  }
}

/**
 * Thrown by `ChatStreamAccumulator.push` when a data payload is an error object rather than a
 * chunk: `{"error": …}` reaching the reader unthrown, or an SSE `event: error` whose payload has no
 * `error` key (openai-node passes those through as if they were chunks).
 */
export class ProviderStreamError extends Error {
  override readonly name = 'ProviderStreamError';

  constructor(
    message: string,
    readonly code: string | null,
    readonly errorType: string | null,
  ) {
    super(message);
  }
}

/**
 * The cause of a `truncated` {@link ChatStreamError}: the body ended cleanly but with neither
 * `data: [DONE]` nor a `finish_reason`, so what arrived is a prefix of an answer, not an answer.
 */
export class TruncatedStreamError extends Error {
  override readonly name = 'TruncatedStreamError';

  /** @param chunks chunks read before the body ended. */
  constructor(readonly chunks: number) {
    super(`the stream ended after ${chunks} chunk(s) without [DONE] or a finish_reason`);
  }
}

/** Why a stream failed: see {@link ChatStreamError}. */
export type ChatStreamErrorKind = 'provider' | 'network' | 'malformed' | 'truncated' | 'aborted';

/**
 * Thrown by `readChatStream` when the stream fails after it was opened; carries what had been
 * assembled so far. `kind`: `provider` — the provider sent an error in the stream (openai-node
 * throws an `APIError` without status for a `data: {"error": …}` payload, including Groq's
 * `event: error`); `malformed` — a payload was not JSON (`SyntaxError`) or not a chunk;
 * `network` — the connection dropped (undici `TypeError: terminated`) or similar; `truncated` — the
 * body ended cleanly without `[DONE]` or a `finish_reason` ({@link TruncatedStreamError}); `aborted` —
 * the caller's signal fired (openai-node ends the iteration silently on abort, so the reader
 * checks the signal). `message` is the underlying error's message; `cause` is that error.
 */
export class ChatStreamError extends Error {
  override readonly name = 'ChatStreamError';

  constructor(
    readonly kind: ChatStreamErrorKind,
    readonly partial: AssembledMessage,
    readonly droppedToolCalls: DroppedToolCall[],
    readonly chunks: number,
    cause: unknown,
  ) {
    super(redact(errorMessage(cause)), { cause });
  }
}

/**
 * Whether `err` is a cancellation rather than a failure: openai's `APIUserAbortError`, a DOM
 * `AbortError`, Temporal's `CancelledFailure`, or a {@link ChatStreamError} of kind `aborted`.
 * Activities rethrow these (as cancellation) instead of converting them.
 */
export function isAbort(err: unknown): boolean {
  if (err instanceof APIUserAbortError || err instanceof CancelledFailure) return true;
  if (err instanceof ChatStreamError) return err.kind === 'aborted';
  return err instanceof Error && err.name === 'AbortError';
}

/** Which {@link ChatStreamErrorKind} a failure while iterating a stream belongs to. */
export function streamErrorKind(err: unknown): ChatStreamErrorKind {
  if (isAbort(err)) return 'aborted';
  if (err instanceof ProviderStreamError || isInStreamApiError(err)) return 'provider';
  if (err instanceof SyntaxError || err instanceof MalformedChunkError) return 'malformed';
  if (err instanceof TruncatedStreamError) return 'truncated';
  return 'network';
}

/** Options of {@link toLlmFailure}. */
export interface ToLlmFailureOptions {
  /** Clock for HTTP-date `retry-after` headers. @default Date.now */
  now?: () => number;
}

/**
 * Turns any error from calling or streaming the LLM into an `ApplicationFailure` with a dotted
 * `type` ({@link LlmFailureType}), `nonRetryable`, `nextRetryDelay` (from `retry-after-ms` /
 * `retry-after`, on retryable HTTP errors) and the original error as `cause`. Messages and
 * details are ours: status, codes and counts, never the provider's text (it may quote the conversation, and the
 * failure reaches Temporal's history) nor credentials; the original error is not the failure's `cause` (see
 * {@link providerErrorOf} for logging it).
 *
 * Contract for cancellation: aborts are not failures. If {@link isAbort} holds for `err`, this
 * function throws `err` unchanged, so `throw toLlmFailure(err)` always propagates cancellation.
 * An `ApplicationFailure` passed in is returned as is.
 */
export function toLlmFailure(err: unknown, options: ToLlmFailureOptions = {}): ApplicationFailure {
  if (isAbort(err)) throw err;
  if (err instanceof ApplicationFailure) return err;
  const cause = err instanceof Error ? err : new Error(errorMessage(err));

  if (err instanceof ChatStreamError) {
    const partial = {
      chunks: err.chunks,
      contentChars: err.partial.content?.length ?? 0,
      toolCalls: err.partial.toolCalls.length,
    };
    const inner = err.cause;
    if (err.kind === 'provider') return streamFailure(inner, cause, partial);
    const type =
      err.kind === 'malformed'
        ? LlmFailureType.malformedStream
        : err.kind === 'truncated'
          ? LlmFailureType.truncated
          : LlmFailureType.network;
    return failure(type, false, `LLM stream failed (${err.kind})`, cause, { ...partial });
  }
  if (err instanceof APIError && err.status !== undefined) {
    return httpFailure(err as HttpApiError, options.now ?? Date.now);
  }
  if (err instanceof APIConnectionError) {
    return failure(LlmFailureType.network, false, `LLM connection failed: ${systemMessage(err)}`, cause, {});
  }
  if (err instanceof ProviderStreamError || isInStreamApiError(err)) return streamFailure(err, cause, {});
  if (err instanceof SyntaxError || err instanceof MalformedChunkError) {
    return failure(LlmFailureType.malformedStream, false, 'LLM stream malformed', cause, {});
  }
  if (isNetworkError(err)) {
    return failure(LlmFailureType.network, false, `LLM connection failed: ${systemMessage(err)}`, cause, {});
  }
  return failure(LlmFailureType.unknown, false, `LLM call failed (${cause.name.slice(0, 60)})`, cause, {});
}

const STATUS_TYPES: Readonly<Record<number, { type: LlmFailureType; retryable: boolean }>> = {
  400: { type: LlmFailureType.badRequest, retryable: false },
  401: { type: LlmFailureType.unauthorized, retryable: false },
  403: { type: LlmFailureType.forbidden, retryable: false },
  404: { type: LlmFailureType.notFound, retryable: false },
  408: { type: LlmFailureType.timeout, retryable: true },
  409: { type: LlmFailureType.conflict, retryable: true },
  422: { type: LlmFailureType.unprocessable, retryable: false },
  429: { type: LlmFailureType.rateLimited, retryable: true },
};

// Typed by what it reads: `instanceof APIError` narrows to APIError<any, …>.
type HttpApiError = Pick<
  APIError,
  'status' | 'headers' | 'error' | 'code' | 'param' | 'type' | 'requestID' | 'message'
> &
  Error;

function httpFailure(err: HttpApiError, now: () => number): ApplicationFailure {
  const status = err.status ?? 0;
  const rule =
    STATUS_TYPES[status] ??
    (status >= 500
      ? { type: LlmFailureType.serverError, retryable: true }
      : { type: status >= 400 ? LlmFailureType.clientError : LlmFailureType.unknown, retryable: status < 400 });
  // The server's explicit hint wins, as in Temporal's contrib/openai-agents mapping.
  const shouldRetry = err.headers?.get('x-should-retry');
  const retryable = shouldRetry === 'true' ? true : shouldRetry === 'false' ? false : rule.retryable;
  const delay = retryable ? retryAfterMs(err.headers, now) : undefined;
  const info = providerInfo(err);
  return failure(
    rule.type,
    !retryable,
    `LLM provider returned ${status}${info.code === null ? '' : ` (${info.code})`}`,
    err,
    {
      status,
      ...info,
      requestId: err.requestID ?? null,
    },
    delay,
  );
}

function streamFailure(inner: unknown, cause: Error, extra: Record<string, unknown>): ApplicationFailure {
  const info = providerInfo(inner);
  return failure(
    LlmFailureType.streamError,
    false,
    `LLM provider sent an error in the stream${info.code === null ? '' : ` (${info.code})`}`,
    cause,
    {
      ...info,
      ...extra,
    },
  );
}

/**
 * The failure itself: its message and details are ours (status, codes, counts), never the provider's text, which
 * can quote the conversation and would reach Temporal's history (design invariant 12). The original error is kept
 * out of the failure's `cause` chain for the same reason; {@link providerErrorOf} gives it to the worker's log.
 */
function failure(
  type: LlmFailureType,
  nonRetryable: boolean,
  message: string,
  cause: Error,
  details: Record<string, unknown>,
  nextRetryDelay?: number,
): ApplicationFailure {
  const created = ApplicationFailure.create({
    type,
    nonRetryable,
    message: redact(message).slice(0, MAX_MESSAGE_CHARS),
    details: [details],
    ...(nextRetryDelay === undefined ? {} : { nextRetryDelay }),
  });
  originals.set(created, cause);
  return created;
}

/** Longest failure message {@link toLlmFailure} produces. */
const MAX_MESSAGE_CHARS = 300;

const originals = new WeakMap<ApplicationFailure, Error>();

/**
 * The error a failure made by {@link toLlmFailure} came from (provider text included), for the worker's log only:
 * it is not part of the failure Temporal records.
 */
export function providerErrorOf(failure: ApplicationFailure): Error | undefined {
  return originals.get(failure);
}

/** A network error's own message (Node's or undici's, never the provider's), bounded. */
function systemMessage(err: unknown): string {
  return errorMessage(err).slice(0, 200);
}

/** The provider's error code / type / param (identifiers, bounded; never its message, which may quote text). */
function providerInfo(err: unknown): {
  code: string | null;
  type: string | null;
  param: string | null;
} {
  if (err instanceof ProviderStreamError) {
    return { code: bounded(err.code), type: bounded(err.errorType), param: null };
  }
  if (err instanceof APIError) {
    return {
      code: bounded(stringOrNull(err.code)),
      type: bounded(stringOrNull(err.type)),
      param: bounded(stringOrNull(err.param)),
    };
  }
  return { code: null, type: null, param: null };
}

function bounded(value: string | null): string | null {
  return value === null ? null : redact(value).slice(0, 100);
}

// openai-node throws a status-less APIError for `data: {"error": …}` payloads inside a stream;
// connection errors and user aborts are status-less APIErrors too and must be told apart.
function isInStreamApiError(err: unknown): err is APIError {
  return (
    err instanceof APIError &&
    err.status === undefined &&
    !(err instanceof APIConnectionError) &&
    !(err instanceof APIUserAbortError)
  );
}

const NETWORK_CODE = /^(UND_ERR_|ECONN|EPIPE|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH)/;

// undici reports a body cut mid-stream as `TypeError: terminated` (cause: SocketError
// UND_ERR_SOCKET); openai-node does not wrap errors raised while iterating the body.
function isNetworkError(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    if (current instanceof APIConnectionError) return true;
    if (current instanceof TypeError && (current.message === 'terminated' || current.message === 'fetch failed')) {
      return true;
    }
    const code: unknown = (current as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODE.test(code)) return true;
    current = current.cause;
  }
  return false;
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause: unknown = err.cause;
    // undici's `terminated` alone says little; name what terminated it.
    return cause instanceof Error && err.message === 'terminated' ? `terminated (${cause.message})` : err.message;
  }
  return typeof err === 'string' ? err : (JSON.stringify(err) ?? String(err));
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : null;
}
