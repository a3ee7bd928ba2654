import type { Context } from 'hono';
import { z } from 'zod';
import { ApiError } from './errors';

/**
 * Validates `value` against `schema`.
 * @throws ApiError 400 `bad_request` with zod's readable description of every problem.
 */
export function validate<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ApiError(400, 'bad_request', `invalid ${what}:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * Reads a JSON request body and validates it. `optional` accepts an absent or empty body as `{}`.
 * @throws ApiError 415 for a body that is not `application/json`, 400 for malformed JSON or a schema violation.
 */
export async function jsonBody<S extends z.ZodType>(
  c: Context,
  schema: S,
  opts: { optional?: boolean } = {},
): Promise<z.output<S>> {
  const text = await c.req.text();
  if (opts.optional && text.trim() === '') return validate(schema, {}, 'request body');
  const type = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new ApiError(415, 'unsupported_media_type', 'the request body must be JSON (Content-Type: application/json)');
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err: unknown) {
    throw new ApiError(
      400,
      'invalid_json',
      `the request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
  return validate(schema, body, 'request body');
}
