import { deltaChunk, roughTokens, splitEvenly, splitText, SSE_DONE, sseData, usageChunk } from './chunks';
import type { CompletionEnvelope } from './chunks';
import { splitSseEvents } from './fixtures';
import type { ChatRequest } from './request';
import type { Script } from './script';

/** One thing the player does: write an SSE event, wait at a gate, or pause. */
export type PlayItem =
  | {
      kind: 'event';
      payload: string | Buffer;
      /** Fault counters and `chunksSent` count it (everything but `[DONE]`). */
      counted: boolean;
      /** Pause before writing it, unless it is the first chunk. */
      delayMs: number;
      /** The content text of a text delta, for `onChunkSent`. */
      text?: string;
    }
  | { kind: 'gate'; name: string }
  | { kind: 'pause'; ms: number };

const DEFAULT_ARG_CHUNKS = 3;

/**
 * Lays a script out as the items the player performs, in order. `fixtures` holds the bytes of
 * every fixture step (loaded beforehand, keyed by the step's `fixture` value).
 */
export function* composeItems(
  script: Script,
  env: CompletionEnvelope,
  request: ChatRequest,
  fixtures: ReadonlyMap<string, Buffer>,
): Generator<PlayItem> {
  const pace = script.delayMs ?? 0;
  let roleSent = false;
  let toolIndex = 0;
  let completionTokens = 0;
  let replayed = false;

  const chunk = (delta: Record<string, unknown>, delayMs: number, text?: string): PlayItem => {
    const withRole = roleSent ? delta : { role: 'assistant', ...delta };
    roleSent = true;
    completionTokens += 1;
    return { kind: 'event', payload: sseData(deltaChunk(env, withRole)), counted: true, delayMs, ...textOf(text) };
  };

  for (const step of script.steps) {
    if ('waitFor' in step) yield { kind: 'gate', name: step.waitFor };
    else if ('pauseMs' in step) yield { kind: 'pause', ms: step.pauseMs };
    else if ('raw' in step) yield { kind: 'event', payload: step.raw, counted: true, delayMs: step.delayMs ?? pace };
    else if ('fixture' in step) {
      replayed = true;
      for (const event of splitSseEvents(fixtures.get(step.fixture) ?? Buffer.alloc(0))) {
        yield { kind: 'event', payload: event, counted: true, delayMs: step.delayMs ?? pace };
      }
    } else if ('text' in step) {
      for (const piece of splitText(step.text, step.chunkSize)) {
        yield chunk({ content: piece }, step.delayMs ?? pace, piece);
      }
    } else if ('delta' in step) {
      roleSent = true;
      completionTokens += 1;
      const payload = sseData(deltaChunk(env, step.delta, step.finishReason ?? null));
      yield { kind: 'event', payload, counted: true, delayMs: step.delayMs ?? pace };
    } else {
      for (const call of step.toolCalls) {
        const index = toolIndex++;
        const id = call.id ?? `call_${env.id.replace(/^chatcmpl-/, '')}_${index}`;
        const argChunks = call.argChunks ?? DEFAULT_ARG_CHUNKS;
        const opening = argChunks === 0 ? call.arguments : '';
        const head = { index, id, type: 'function', function: { name: call.name, arguments: opening } };
        yield chunk(roleSent ? { tool_calls: [head] } : { content: null, tool_calls: [head] }, step.delayMs ?? pace);
        for (const piece of argChunks === 0 ? [] : splitEvenly(call.arguments, argChunks)) {
          yield chunk({ tool_calls: [{ index, function: { arguments: piece } }] }, step.delayMs ?? pace);
        }
      }
    }
  }
  // A replayed recording is the whole body: nothing is added to its bytes.
  if (replayed) return;

  const finishReason =
    script.finishReason === undefined ? (toolIndex > 0 ? 'tool_calls' : 'stop') : script.finishReason;
  if (finishReason !== null) {
    yield { kind: 'event', payload: sseData(deltaChunk(env, {}, finishReason)), counted: true, delayMs: pace };
  }
  if (env.includeUsage) {
    const usage = script.usage ?? { prompt_tokens: roughTokens(request.messages), completion_tokens: completionTokens };
    yield { kind: 'event', payload: sseData(usageChunk(env, usage)), counted: true, delayMs: 0 };
  }
  yield { kind: 'event', payload: SSE_DONE, counted: false, delayMs: 0 };
}

function textOf(text: string | undefined): { text?: string } {
  return text === undefined ? {} : { text };
}
