import assert from 'node:assert/strict';
import { readUIMessageStream, uiMessageChunkSchema, type UIMessage, type UIMessageChunk } from 'ai';
import { sseFrames } from '../gateway/harness';

/** What a UI message stream response held: every part (each validated with the `ai` package's schema). */
export interface UiStream {
  chunks: UIMessageChunk[];
  /** Whether the body ended with `data: [DONE]`. */
  done: boolean;
}

const schema = uiMessageChunkSchema();

/**
 * Reads a UI message stream response to its end (or until `until` says stop), checking the framing the AI SDK's
 * transport expects and validating every part with the SDK's own chunk schema.
 */
export async function readUiStream(
  response: Response,
  opts: { until?: (chunk: UIMessageChunk, all: UIMessageChunk[]) => boolean } = {},
): Promise<UiStream> {
  assert.equal(
    response.status,
    200,
    `status ${response.status}: ${response.status === 200 ? '' : await response.text()}`,
  );
  assert.equal(response.headers.get('x-vercel-ai-ui-message-stream'), 'v1');
  assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
  const chunks: UIMessageChunk[] = [];
  let done = false;
  for await (const frame of sseFrames(response)) {
    assert.equal(frame.kind, 'event', 'a UI message stream has no comment lines');
    if (frame.kind !== 'event') continue;
    assert.equal(frame.event, undefined, 'parts are plain `data:` lines');
    assert.ok(!done, 'nothing follows [DONE]');
    if (frame.data === '[DONE]') {
      done = true;
      continue;
    }
    const validated = await schema.validate!(JSON.parse(frame.data));
    assert.ok(validated.success, `not a UI message chunk: ${frame.data}`);
    chunks.push(validated.value);
    if (opts.until?.(validated.value, chunks)) break;
  }
  return { chunks, done };
}

/** The message the `ai` package's `readUIMessageStream` folds these parts into, and the errors it reported. */
export async function fold(chunks: readonly UIMessageChunk[]): Promise<{ message: UIMessage; errors: string[] }> {
  const errors: string[] = [];
  const stream = new ReadableStream<UIMessageChunk>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  let message: UIMessage | undefined;
  for await (const state of readUIMessageStream({ stream, onError: (err) => errors.push(String(err)) })) {
    message = state;
  }
  assert.ok(message, 'the stream produced a message');
  // As JSON, the way a message reaches a frontend (undefined fields dropped).
  return { message: JSON.parse(JSON.stringify(message)) as UIMessage, errors };
}

/** The text of a message: its text parts, in order. */
export function textOf(message: UIMessage): string {
  return message.parts.map((part) => (part.type === 'text' ? part.text : '')).join('');
}

/** The tool parts of a message, in order, as `[name, state]`. */
export function toolsOf(message: UIMessage): { name: string; state: string; output?: unknown; errorText?: string }[] {
  return message.parts.flatMap((part) =>
    part.type === 'dynamic-tool'
      ? [
          {
            name: part.toolName,
            state: part.state,
            ...(part.state === 'output-available' ? { output: part.output } : {}),
            ...(part.state === 'output-error' ? { errorText: part.errorText } : {}),
          },
        ]
      : [],
  );
}

/** Types of the parts, in order (for checking the shape of a stream). */
export function typesOf(chunks: readonly UIMessageChunk[]): string[] {
  return chunks.map((c) => c.type);
}

/**
 * The shape of a stream: part types with each run of text deltas of one part as one entry. A replay reads stored
 * text rows, which batch what the live stream sent as several deltas, so only the shape and the text must agree.
 */
export function shapeOf(chunks: readonly UIMessageChunk[]): string[] {
  const shape: string[] = [];
  for (const chunk of chunks) {
    const entry = 'id' in chunk && typeof chunk.id === 'string' ? `${chunk.type}:${chunk.id}` : chunk.type;
    if (chunk.type === 'text-delta' && shape.at(-1) === entry) continue;
    shape.push(entry);
  }
  return shape;
}
