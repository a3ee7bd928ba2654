import { readFileSync } from 'node:fs';

/** A raw chunk payload as a provider sends it (deliberately not typed as ChatCompletionChunk). */
export type RawChunk = Record<string, unknown>;

/** A chunk whose only choice (index 0 unless given) carries `delta`. */
export function chunk(
  delta: Record<string, unknown>,
  extra: { finish?: string | null; index?: number; usage?: unknown } = {},
): RawChunk {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'test',
    choices: [{ index: extra.index ?? 0, delta, finish_reason: extra.finish ?? null }],
    ...(extra.usage === undefined ? {} : { usage: extra.usage }),
  };
}

/** A chunk with `choices: []` and a usage object. */
export function usageChunk(usage: Record<string, unknown>): RawChunk {
  return { id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 1, model: 'test', choices: [], usage };
}

/**
 * The JSON payloads of a recorded SSE file's `data:` events (no `[DONE]`), parsed independently of
 * openai-node; for unit tests that feed the accumulator without a server.
 */
export function payloadsOf(file: string): RawChunk[] {
  const out: RawChunk[] = [];
  for (const event of readFileSync(file, 'utf8').split('\n\n')) {
    const data = event
      .split('\n')
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(line.startsWith('data: ') ? 6 : 5))
      .join('\n');
    if (data === '' || data === '[DONE]') continue;
    out.push(JSON.parse(data) as RawChunk);
  }
  return out;
}
