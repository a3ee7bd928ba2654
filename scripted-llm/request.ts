import { z } from 'zod';
import type { IncomingHttpHeaders } from 'node:http';

/** One message of a chat request; unknown fields are kept. */
export const ChatMessage = z.looseObject({
  role: z.string(),
  content: z.unknown().optional(),
  name: z.string().optional(),
  tool_call_id: z.string().optional(),
  tool_calls: z
    .array(z.looseObject({ id: z.string(), function: z.looseObject({ name: z.string() }).optional() }))
    .nullable()
    .optional(),
});
/** One message of a chat request. */
export type ChatMessage = z.infer<typeof ChatMessage>;

/** The body of `POST /v1/chat/completions`, as much of it as the server reads; the rest is kept. */
export const ChatRequest = z.looseObject({
  model: z.string().min(1),
  messages: z.array(ChatMessage).min(1),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  tools: z
    .array(z.looseObject({ type: z.string(), function: z.looseObject({ name: z.string() }).optional() }))
    .optional(),
});
/** The body of `POST /v1/chat/completions`. */
export type ChatRequest = z.infer<typeof ChatRequest>;

/** How a recorded request ended (so far). */
export type RequestOutcome =
  'streaming' | 'completed' | 'aborted' | 'dropped' | 'closed' | 'error_event' | 'http_error' | 'rejected' | 'failed';

/** Where the script for a request came from. */
export type ScriptSource = 'queue' | 'responder' | 'demo' | 'none';

/** A chat completion request as the server received it. `outcome`/`chunksSent` update while it streams. */
export interface RecordedRequest {
  /** Position in `requests`, also `requestIndex` in chunk events. */
  readonly index: number;
  readonly method: string;
  /** Path with query string, e.g. `/v1/chat/completions`. */
  readonly url: string;
  readonly body: ChatRequest;
  /** Request headers without credentials (authorization, api-key, cookies are left out). */
  readonly headers: Readonly<Record<string, string>>;
  /** Whether an `Authorization` header was present; its value is never kept. */
  readonly hasAuthorization: boolean;
  /** Epoch ms (`performance.timeOrigin + performance.now()`). */
  readonly receivedAt: number;
  readonly source: ScriptSource;
  readonly outcome: RequestOutcome;
  /** SSE events sent so far (never counting `[DONE]`). */
  readonly chunksSent: number;
  /** Epoch ms when the response ended or the client went away. */
  readonly endedAt?: number;
}

/** The server's own writable view of a record. */
export type MutableRecordedRequest = { -readonly [K in keyof RecordedRequest]: RecordedRequest[K] };

const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'api-key', 'x-api-key', 'cookie']);

/** Flattens headers and drops every credential-bearing one. */
export function safeHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || SECRET_HEADERS.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Epoch milliseconds with sub-millisecond precision, comparable across processes on one host. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
