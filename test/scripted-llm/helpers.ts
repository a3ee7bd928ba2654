import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { APIPromise } from 'openai/core/api-promise';
import type { Stream } from 'openai/core/streaming';
import type { ScriptedLlm } from '../../scripted-llm';

/** The real openai client, pointed at the scripted server, with retries left to the caller. */
export function openaiFor(llm: ScriptedLlm, apiKey = 'test'): OpenAI {
  return new OpenAI({ baseURL: llm.baseURL, apiKey, maxRetries: 0, logLevel: 'off' });
}

export const HELLO: ChatCompletionMessageParam[] = [{ role: 'user', content: 'Hello there' }];

/** Starts a streamed completion the way turnflow's activity does. */
export function streamChat(
  client: OpenAI,
  messages: ChatCompletionMessageParam[] = HELLO,
  includeUsage = true,
  signal?: AbortSignal,
): APIPromise<Stream<ChatCompletionChunk>> {
  const body = {
    model: 'gpt-test',
    messages,
    stream: true,
    stream_options: includeUsage ? { include_usage: true } : null,
  } as const;
  return client.chat.completions.create(body, signal === undefined ? {} : { signal });
}

/** Reads a whole stream. */
export async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

/** Reads a stream until it throws; returns what arrived and the error. */
export async function collectUntilError(
  stream: AsyncIterable<ChatCompletionChunk>,
): Promise<{ chunks: ChatCompletionChunk[]; error: unknown }> {
  const chunks: ChatCompletionChunk[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk);
  } catch (err: unknown) {
    return { chunks, error: err };
  }
  return { chunks, error: undefined };
}

/** The concatenated `delta.content` of a stream. */
export function textOf(chunks: ChatCompletionChunk[]): string {
  return chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
}

/** Resolves to 'pending' if `promise` has not settled within `ms`. */
export async function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
