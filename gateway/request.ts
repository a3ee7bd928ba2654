import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { ApiError } from './errors';
import { describeJsonProblem, parseStrictJson } from './json';

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
 * Reads a JSON request body strictly (see {@link parseStrictJson}) and validates it. `optional` accepts an absent
 * or empty body as `{}`.
 * @throws ApiError 415 for a body that is not `application/json` (UTF-8), 400 `invalid_json` for bytes that are
 *   not UTF-8 or not JSON or repeat a key, 400 `bad_request` for lone surrogates, NUL, nesting deeper than
 *   `MAX_JSON_DEPTH` (64) or a schema violation.
 */
export async function jsonBody<S extends z.ZodType>(
  c: Context,
  schema: S,
  opts: { optional?: boolean } = {},
): Promise<z.output<S>> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (opts.optional && isBlank(bytes)) return validate(schema, {}, 'request body');
  const [type, ...params] = (c.req.header('content-type') ?? '').split(';').map((part) => part.trim().toLowerCase());
  const charset = params
    .find((p) => p.startsWith('charset='))
    ?.slice('charset='.length)
    .replace(/^"|"$/g, '');
  if (type !== 'application/json' || (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')) {
    throw new ApiError(
      415,
      'unsupported_media_type',
      'the request body must be JSON in UTF-8 (Content-Type: application/json)',
    );
  }
  const parsed = parseStrictJson(bytes);
  if (!parsed.ok) {
    const kind = parsed.problem.kind;
    const type = kind === 'lone_surrogate' || kind === 'nul' || kind === 'too_deep' ? 'bad_request' : 'invalid_json';
    throw new ApiError(400, type, describeJsonProblem(parsed.problem));
  }
  return validate(schema, parsed.value, 'request body');
}

function isBlank(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d);
}

/** Refuses a request body over `maxBytes` with 413 before it is read whole. */
export function limitBody(maxBytes: number) {
  return bodyLimit({
    maxSize: maxBytes,
    // The rest of the body is never read: close the connection rather than leave it to the next request.
    onError: (c) =>
      c.json(new ApiError(413, 'payload_too_large', `the request body exceeds ${maxBytes} bytes`).toJSON(), 413, {
        Connection: 'close',
      }),
  });
}
