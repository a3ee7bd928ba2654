import type { Usage } from './script';

/** What every chunk of one completion shares. */
export interface CompletionEnvelope {
  id: string;
  created: number;
  model: string;
  /** With `stream_options.include_usage`, OpenAI puts `usage: null` on every chunk but the last. */
  includeUsage: boolean;
}

/** The SSE terminator OpenAI sends after the last chunk. */
export const SSE_DONE = 'data: [DONE]\n\n';

/** A line the client cannot parse as JSON. */
export const SSE_MALFORMED = 'data: {not json\n\n';

/** Frames one JSON payload as an SSE `data:` event. */
export function sseData(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

/** A `chat.completion.chunk` with one choice. */
export function deltaChunk(
  env: CompletionEnvelope,
  delta: Record<string, unknown>,
  finishReason: string | null = null,
): Record<string, unknown> {
  return {
    id: env.id,
    object: 'chat.completion.chunk',
    created: env.created,
    model: env.model,
    system_fingerprint: 'fp_scripted',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(env.includeUsage ? { usage: null } : {}),
  };
}

/** The final `choices: []` chunk carrying usage. */
export function usageChunk(env: CompletionEnvelope, usage: Usage): Record<string, unknown> {
  return {
    id: env.id,
    object: 'chat.completion.chunk',
    created: env.created,
    model: env.model,
    system_fingerprint: 'fp_scripted',
    choices: [],
    usage: {
      prompt_tokens: usage.prompt_tokens,
      completion_tokens: usage.completion_tokens,
      total_tokens: usage.total_tokens ?? usage.prompt_tokens + usage.completion_tokens,
      ...(usage.prompt_tokens_details ? { prompt_tokens_details: usage.prompt_tokens_details } : {}),
      ...(usage.completion_tokens_details ? { completion_tokens_details: usage.completion_tokens_details } : {}),
    },
  };
}

/**
 * Splits text the way models stream it: each piece is a word with its leading whitespace
 * (`"Hello"`, `" world"`), or fixed-size pieces of `chunkSize` characters. Pieces join to `text`.
 */
export function splitText(text: string, chunkSize?: number): string[] {
  if (chunkSize !== undefined) return splitBySize(text, chunkSize);
  return text.split(/(?<=\S)(?=\s)/).filter((piece) => piece.length > 0);
}

/** Splits `text` into exactly `min(pieces, length)` parts of near-equal length (by code point). */
export function splitEvenly(text: string, pieces: number): string[] {
  const chars = Array.from(text);
  const count = Math.min(Math.max(pieces, 0), chars.length);
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < count; i++) {
    const size = Math.floor(chars.length / count) + (i < chars.length % count ? 1 : 0);
    out.push(chars.slice(start, start + size).join(''));
    start += size;
  }
  return out;
}

function splitBySize(text: string, size: number): string[] {
  const chars = Array.from(text);
  const out: string[] = [];
  for (let i = 0; i < chars.length; i += size) out.push(chars.slice(i, i + size).join(''));
  return out;
}

/** A rough token count (4 characters a token) for default usage numbers. */
export function roughTokens(value: unknown): number {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return Math.max(1, Math.ceil(text.length / 4));
}
