import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { z } from 'zod';
import type { ChatChunkStream } from './sse';
import { Chunk, type ChunkChoice, type ChunkDelta } from './chunk-schema';
import {
  ChatStreamError,
  MalformedChunkError,
  ProviderStreamError,
  TruncatedStreamError,
  streamErrorKind,
} from './errors';
import { DEFAULT_TOOL_CALL_ID_PREFIX, ToolCallAssembler } from './tool-calls';
import type { AssembledMessage, DroppedToolCall, ReadResult, StreamDelta } from './types';

/** Options of {@link ChatStreamAccumulator}. */
export interface AccumulatorOptions {
  /** Prefix of ids generated (`prefix + position`) for tool calls sent without an id. @default 'call_' */
  toolCallIdPrefix?: string;
}

/**
 * Assembles the assistant message of one streamed chat completion, chunk by chunk. Pure: no I/O,
 * no clock, no randomness. Reads choice `index` 0 only (n>1 streams interleave choices); chunks
 * without choices (usage, Azure prompt filters, moderation) only contribute `usage`. Refusals are
 * kept apart from content, like reasoning; callers decide whether to show them.
 */
export class ChatStreamAccumulator {
  private readonly content: string[] = [];
  private readonly reasoning: string[] = [];
  private readonly refusal: string[] = [];
  private readonly toolCalls: ToolCallAssembler;
  private finishReason: string | null = null;
  private usage: Record<string, unknown> | null = null;
  private usageReports = 0;

  constructor(options: AccumulatorOptions = {}) {
    this.toolCalls = new ToolCallAssembler(options.toolCallIdPrefix ?? DEFAULT_TOOL_CALL_ID_PREFIX);
  }

  /**
   * Applies one chunk and returns the deltas it contributed, in order. Takes the
   * `ChatCompletionChunk` the openai client yields but validates it, since providers deviate
   * from that type (content arrays, missing indexes, nulls everywhere).
   *
   * @throws {@link MalformedChunkError} when the chunk is not shaped like a chunk.
   * @throws {@link ProviderStreamError} when the payload is an error object instead of a chunk.
   */
  push(chunk: ChatCompletionChunk | Readonly<Record<string, unknown>>): StreamDelta[] {
    const parsed = Chunk.safeParse(chunk);
    if (!parsed.success) throw new MalformedChunkError(z.prettifyError(parsed.error), { cause: parsed.error });
    const data = parsed.data;
    if (data.error !== undefined && data.error !== null) throw providerError(data.error);
    // `event: error` payloads without an `error` key reach us as "chunks" with a message and no choices.
    if (!data.choices && typeof data.message === 'string') throw providerError(data);

    const usage = asRecord(data.usage) ?? asRecord(asRecord(data.x_groq)?.['usage']);
    if (usage !== null) {
      this.usage = usage;
      this.usageReports += 1;
    }

    const choice = data.choices?.find((c: ChunkChoice) => (c.index ?? 0) === 0);
    if (choice === undefined) return [];
    if (choice.finish_reason) this.finishReason = choice.finish_reason;
    return choice.delta ? this.applyDelta(choice.delta) : [];
  }

  /** How many chunks reported usage so far (a provider with continuous usage stats reports it on every chunk). */
  get usageReported(): number {
    return this.usageReports;
  }

  /** The last usage reported so far, as the provider sent it. */
  get latestUsage(): Record<string, unknown> | null {
    return this.usage;
  }

  /** Whether choice 0 carried a `finish_reason`: the provider said the message is complete. */
  get finished(): boolean {
    return this.finishReason !== null;
  }

  /** The message assembled so far (complete once the stream ended). */
  result(): AssembledMessage {
    return {
      content: joinOrNull(this.content),
      reasoning: joinOrNull(this.reasoning),
      refusal: joinOrNull(this.refusal),
      toolCalls: this.toolCalls.result().toolCalls,
      finishReason: this.finishReason,
      usage: this.usage,
    };
  }

  /** Tool calls left incomplete (no function name), kept out of {@link result}. */
  droppedToolCalls(): DroppedToolCall[] {
    return this.toolCalls.result().dropped;
  }

  private applyDelta(delta: ChunkDelta): StreamDelta[] {
    const out: StreamDelta[] = [];
    const emit = (kind: StreamDelta['kind'], text: string): void => {
      if (text === '') return;
      (kind === 'text' ? this.content : kind === 'reasoning' ? this.reasoning : this.refusal).push(text);
      out.push({ kind, text });
    };
    // Some servers send both fields with the same text; prefer `reasoning_content`.
    const reasoning = nonEmptyString(delta.reasoning_content) ?? nonEmptyString(delta.reasoning);
    if (reasoning !== null) emit('reasoning', reasoning);
    if (typeof delta.content === 'string') emit('text', delta.content);
    else if (Array.isArray(delta.content)) {
      for (const part of delta.content) {
        if (part.type === 'text') emit('text', stringOf(part['text']));
        else if (part.type === 'thinking') emit('reasoning', thinkingText(part['thinking']));
      }
    }
    if (delta.refusal) emit('refusal', delta.refusal);
    for (const call of delta.tool_calls ?? []) this.toolCalls.add(call);
    return out;
  }
}

/** Options of {@link readChatStream}. */
export interface ReadChatStreamOptions extends AccumulatorOptions {
  /**
   * Called with every delta, in order, awaited before the next chunk is read. An error it throws
   * stops the stream (the request is aborted) and propagates unchanged, not as a ChatStreamError.
   */
  onDelta?: (delta: StreamDelta) => void | Promise<void>;
  /**
   * The signal passed to `chat.completions.create`. openai-node ends the iteration silently when
   * it fires, so the reader checks it to report the abort instead of a truncated message.
   */
  signal?: AbortSignal;
  /**
   * Called with each usage the provider reports (most send one, at the end; some, like vLLM's continuous usage
   * stats, send it on every chunk). Returning true ends the reading there: the request is aborted and the message
   * so far is returned with `stopped: true` (not a truncation).
   */
  stopOnUsage?: (usage: Record<string, unknown>) => boolean;
}

/**
 * Reads a chat completion stream to the end and returns the assembled message.
 *
 * Errors are thrown, never returned: any failure while iterating (in-stream provider error,
 * dropped connection, malformed payload, abort via `options.signal`) is thrown as a
 * {@link ChatStreamError} carrying the partial message, the dropped tool calls and the chunk
 * count; its `cause` is the original error. Errors thrown by `onDelta` propagate unchanged.
 * A stream that ends with neither `data: [DONE]` nor a `finish_reason` was cut, not finished:
 * it is thrown as a `ChatStreamError` of kind `truncated` (a {@link TruncatedStreamError} cause).
 */
export async function readChatStream(
  stream: ChatChunkStream,
  options: ReadChatStreamOptions = {},
): Promise<ReadResult> {
  const accumulator = new ChatStreamAccumulator(
    options.toolCallIdPrefix === undefined ? {} : { toolCallIdPrefix: options.toolCallIdPrefix },
  );
  let chunks = 0;
  let callbackFailure: { error: unknown } | null = null;
  let stopped = false;
  const fail = (cause: unknown, kind = streamErrorKind(cause)): ChatStreamError =>
    new ChatStreamError(kind, accumulator.result(), accumulator.droppedToolCalls(), chunks, cause);

  try {
    read: for await (const chunk of stream) {
      chunks += 1;
      const reports = accumulator.usageReported;
      const deltas = accumulator.push(chunk);
      for (const delta of deltas) {
        if (options.onDelta === undefined) continue;
        try {
          await options.onDelta(delta);
        } catch (err: unknown) {
          callbackFailure = { error: err };
          break read; // leaving the loop makes openai-node abort the request
        }
      }
      const usage = accumulator.latestUsage;
      if (options.stopOnUsage && accumulator.usageReported > reports && usage && options.stopOnUsage(usage)) {
        stopped = true;
        break; // the body is cancelled, which closes the connection
      }
    }
  } catch (err: unknown) {
    throw options.signal?.aborted ? fail(err, 'aborted') : fail(err);
  }
  if (callbackFailure !== null) throw callbackFailure.error;
  if (options.signal?.aborted) throw fail(options.signal.reason, 'aborted');
  if (!stopped && !stream.sawDone && !accumulator.finished) throw fail(new TruncatedStreamError(chunks), 'truncated');
  return { message: accumulator.result(), droppedToolCalls: accumulator.droppedToolCalls(), chunks, stopped };
}

function providerError(payload: unknown): ProviderStreamError {
  const body = asRecord(payload);
  const message = typeof body?.['message'] === 'string' ? body['message'] : (JSON.stringify(payload) ?? 'error');
  const code = body?.['code'];
  const type = body?.['type'];
  return new ProviderStreamError(
    message,
    typeof code === 'string' || typeof code === 'number' ? String(code) : null,
    typeof type === 'string' ? type : null,
  );
}

function thinkingText(thinking: unknown): string {
  if (typeof thinking === 'string') return thinking;
  if (!Array.isArray(thinking)) return '';
  return thinking
    .map((part: unknown) => {
      const record = asRecord(part);
      return record?.['type'] === 'text' ? stringOf(record['text']) : '';
    })
    .join('');
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

function nonEmptyString(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function stringOf(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function joinOrNull(parts: string[]): string | null {
  const joined = parts.join('');
  return joined === '' ? null : joined;
}
