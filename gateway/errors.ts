import { z } from 'zod';
import {
  ConversationStuckError,
  type ApprovalUnavailableError,
  type BudgetExhaustedError,
  type ConversationUnavailableError,
  type TurnStartTimeoutError,
} from '../client';

/** The machine-readable kinds of error the gateway answers with (`error.type` in the JSON body). */
export const ApiErrorType = z.enum([
  'bad_request',
  'invalid_json',
  'unauthorized',
  'not_found',
  'method_not_allowed',
  'conflict',
  'too_many_requests',
  'budget.exhausted',
  'payload_too_large',
  'unsupported_media_type',
  'unavailable',
  'conversation.stuck',
  'internal',
]);
export type ApiErrorType = z.infer<typeof ApiErrorType>;

/**
 * The JSON body of every error response: `{ error: { type, message } }`; a `409` of a busy conversation adds the
 * turn it is busy with. The OpenAPI document describes errors with this schema.
 */
export const ApiErrorBody = z
  .strictObject({
    error: z.strictObject({
      type: ApiErrorType,
      message: z.string(),
      runningTurnId: z.string().optional().meta({ description: 'A 409 of a busy conversation: its running turn.' }),
    }),
  })
  .meta({ id: 'Error' });
export type ApiErrorBody = z.infer<typeof ApiErrorBody>;

/**
 * Thrown by route handlers to answer with an error status and a JSON body; the app's error handler turns it
 * into the response. Anything else thrown becomes a 500 `internal` error whose details are only logged.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  /** Extra response headers (e.g. `WWW-Authenticate` on a 401). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    readonly status: 400 | 401 | 404 | 405 | 409 | 413 | 415 | 429 | 503,
    readonly type: ApiErrorType,
    message: string,
    options?: { cause?: unknown; headers?: Record<string, string>; runningTurnId?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.headers = options?.headers ?? {};
    this.runningTurnId = options?.runningTurnId;
  }

  /** For a `409` of a busy conversation: the turn it is busy with. */
  readonly runningTurnId: string | undefined;

  /** The response body. */
  toJSON(): ApiErrorBody {
    const error: ApiErrorBody['error'] = { type: this.type, message: this.message };
    if (this.runningTurnId !== undefined) error.runningTurnId = this.runningTurnId;
    return { error };
  }
}

/** The 404 every missing or foreign resource gets, so another tenant cannot tell the two apart. */
export function notFound(what: string): ApiError {
  return new ApiError(404, 'not_found', `${what} not found`);
}

/**
 * The 503 of a call the conversation's workflow did not answer: a start it did not accept or a listing or cancel it
 * did not answer within the deadline, no worker having taken its task (`unavailable`), or its workflow task that
 * keeps failing (`conversation.stuck`, naming its workflow). Nothing is lost: a start's request is stored and may
 * still run, and the same request retried after `Retry-After` attaches to its turn.
 */
export function conversationUnavailable(
  err: TurnStartTimeoutError | ConversationStuckError | ConversationUnavailableError,
  retryAfterSeconds: number,
): ApiError {
  return new ApiError(503, err instanceof ConversationStuckError ? 'conversation.stuck' : 'unavailable', err.message, {
    cause: err,
    headers: { 'Retry-After': String(retryAfterSeconds) },
  });
}

/** The 503 of a person's decision the turn did not take in time: no worker runs it now. */
export function approvalUnavailable(err: ApprovalUnavailableError, retryAfterSeconds: number): ApiError {
  return new ApiError(503, 'unavailable', err.message, {
    cause: err,
    headers: { 'Retry-After': String(retryAfterSeconds) },
  });
}

/** The 429 of a start while the tenant is over its daily token budget: `Retry-After` is the time to the UTC reset. */
export function budgetExhausted(err: BudgetExhaustedError): ApiError {
  return new ApiError(429, 'budget.exhausted', err.message, {
    cause: err,
    headers: { 'Retry-After': String(err.retryAfterSeconds) },
  });
}
