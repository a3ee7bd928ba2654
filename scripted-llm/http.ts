import type { IncomingMessage } from 'node:http';

/** Thrown by {@link readBody} when a request body exceeds the limit. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';

  constructor(readonly limitBytes: number) {
    super(`Request body larger than ${limitBytes} bytes.`);
  }
}

/**
 * Reads a whole request body as UTF-8.
 * @throws BodyTooLargeError beyond `limitBytes`.
 */
export async function readBody(req: IncomingMessage, limitBytes = 16 * 1024 * 1024): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req as AsyncIterable<Buffer>) {
    size += part.length;
    if (size > limitBytes) throw new BodyTooLargeError(limitBytes);
    parts.push(part);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Parses JSON, or returns `undefined` so the caller's schema reports the problem. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // the caller's schema names the problem
    return undefined;
  }
}

/** A `model` object as `GET /v1/models` lists it. */
export function modelInfo(id: string): Record<string, unknown> {
  return { id, object: 'model', created: 0, owned_by: 'turnflow-scripted' };
}
