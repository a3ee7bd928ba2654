import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { APIError } from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { describeTooDeep, isTooDeep } from '../../common';
import { MalformedChunkError } from './errors';

/**
 * The chunks of one streamed chat completion, read from the raw HTTP response. Unlike openai-node's
 * `Stream`, which swallows `data: [DONE]`, it says whether the terminator arrived, so a body that just
 * stops can be told from one that ended (invariant 8).
 */
export interface ChatChunkStream extends AsyncIterable<ChatCompletionChunk> {
  /** `data: [DONE]` was received; meaningful once iteration has ended. */
  readonly sawDone: boolean;
}

/** Anything that can hand over its raw `Response`: openai-node's `APIPromise` of a stream. */
export interface RawResponseSource {
  asResponse(): Promise<Response>;
}

/**
 * Opens a chat completion stream from `client.chat.completions.create({ stream: true, … })` without
 * letting openai-node parse the body: HTTP errors still reject here as openai's `APIError`s.
 */
export async function openChatChunkStream(request: RawResponseSource): Promise<ChatChunkStream> {
  return chatChunkStream(await request.asResponse());
}

/**
 * Parses an SSE response body into chat completion chunks, like openai-node's `Stream.fromSSEResponse`
 * (same error semantics: a payload with an `error` key throws a status-less `APIError`; a payload that is
 * not JSON throws `SyntaxError`; one nested past `MAX_JSON_DEPTH` throws `MalformedChunkError`), and records whether `data: [DONE]` arrived. Errors reading the body (a
 * dropped connection, an abort of the request's signal) propagate unchanged. Leaving the iteration early
 * cancels the body, which closes the connection.
 */
export function chatChunkStream(response: Response): ChatChunkStream {
  let sawDone = false;
  let consumed = false;
  async function* iterate(): AsyncGenerator<ChatCompletionChunk> {
    if (consumed) throw new Error('a chat chunk stream can be iterated once');
    consumed = true;
    const body = response.body;
    if (body === null) return;
    const reader = (body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    const pending: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (event) => void pending.push(event) });
    let finished = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        // An event the body cut before its blank line is never dispatched (the SSE rule; openai-node does the same).
        parser.feed(done ? decoder.decode() : decoder.decode(value, { stream: true }));
        while (pending.length > 0) {
          const event = pending.shift()!;
          if (event.data.startsWith('[DONE]')) {
            sawDone = true;
            return;
          }
          // Before anything walks the payload: `APIError` stringifies an error payload, and that recurses.
          if (isTooDeep(event.data)) throw new MalformedChunkError(describeTooDeep('the payload'));
          const data: unknown = JSON.parse(event.data);
          if (isRecord(data) && data['error']) {
            throw new APIError(undefined, data['error'], undefined, response.headers);
          }
          yield data as ChatCompletionChunk;
        }
        if (done) {
          finished = true;
          return;
        }
      }
    } finally {
      if (!finished) await reader.cancel().catch(() => undefined);
      reader.releaseLock();
    }
  }
  return {
    get sawDone() {
      return sawDone;
    },
    [Symbol.asyncIterator]: iterate,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
