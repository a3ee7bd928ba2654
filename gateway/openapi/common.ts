import { z } from 'zod';
import type { ZodOpenApiResponseObject } from 'zod-openapi';
import { ApiErrorBody } from '../errors';

/** An error response with the gateway's JSON error body. */
export function errorResponse(
  description: string,
  extra: Partial<ZodOpenApiResponseObject> = {},
): ZodOpenApiResponseObject {
  return { description, content: { 'application/json': { schema: ApiErrorBody } }, ...extra };
}

const retryAfter = z.object({
  'Retry-After': z.string().meta({ description: 'Seconds to wait before trying again.' }),
});

/**
 * The error responses most routes share, each a component of the document (`id`). Every `/v1` route may also answer
 * `405 method_not_allowed` (with `Allow`) for a method it does not serve.
 */
export const errors = {
  badRequest: errorResponse(
    '`bad_request` (a parameter or the body broke its schema; the message says how) or `invalid_json`.',
    {
      id: 'BadRequest',
    },
  ),
  unauthorized: errorResponse('`unauthorized`: no bearer token, or one the gateway does not accept.', {
    id: 'Unauthorized',
    headers: z.object({ 'WWW-Authenticate': z.string().meta({ example: 'Bearer realm="turnflow"' }) }),
  }),
  notFound: errorResponse("`not_found`: no such resource, or another tenant's (the two answer alike).", {
    id: 'NotFound',
  }),
  payloadTooLarge: errorResponse("`payload_too_large`: the body exceeds the gateway's limit.", {
    id: 'PayloadTooLarge',
  }),
  unsupportedMediaType: errorResponse('`unsupported_media_type`: the body is not `application/json` in UTF-8.', {
    id: 'UnsupportedMediaType',
  }),
  tooManyRequests: errorResponse(
    "`too_many_requests` (the tenant's running turns or open streams are at their limit) or `budget.exhausted` " +
      "(the tenant's daily token budget is spent; `Retry-After` is the next UTC midnight).",
    { id: 'TooManyRequests', headers: retryAfter },
  ),
  unavailable: errorResponse(
    '`unavailable`: no worker accepted the turn within the start deadline (the request is stored and may still run; ' +
      'the same request retried after `Retry-After` attaches to its turn), Postgres is out of reach, or a JWT could ' +
      "not be checked because the identity provider's keys could not be fetched. `conversation.stuck`: the " +
      "conversation's workflow task keeps failing (a bug for an operator; the message names the workflow).",
    { id: 'Unavailable', headers: retryAfter },
  ),
  conversationUnavailable: errorResponse(
    "`unavailable`: the conversation's workflow did not answer within the deadline (no worker took its task; a " +
      'cancel may still take effect once one does), Postgres is out of reach, or a JWT could not be checked. ' +
      "`conversation.stuck`: the conversation's workflow task keeps failing (a bug for an operator; the message " +
      'names the workflow). Try again after `Retry-After`.',
    { id: 'ConversationUnavailable', headers: retryAfter },
  ),
  dependencyUnavailable: errorResponse(
    '`unavailable`: Postgres is out of reach (restarting, or the network to it is down), or a JWT could not be ' +
      "checked because the identity provider's keys could not be fetched. Send the same request again after " +
      '`Retry-After` (a start with the same `requestId` attaches to the turn it may have begun).',
    { id: 'DependencyUnavailable', headers: retryAfter },
  ),
  internal: errorResponse('`internal`: an unexpected error (details are only logged).', { id: 'Internal' }),
} as const;

/** The body error responses of a route that reads a JSON body. */
export const bodyErrors = {
  '400': errors.badRequest,
  '413': errors.payloadTooLarge,
  '415': errors.unsupportedMediaType,
} as const;

/** The error responses every authenticated route can give; list them first, so a route's own can replace them. */
export const authErrors = {
  '401': errors.unauthorized,
  '503': errors.dependencyUnavailable,
  '500': errors.internal,
} as const;
