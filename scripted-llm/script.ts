import { z } from 'zod';
import { ScriptError } from './errors';

const delayMs = z.number().int().min(0).optional();
const chunkCount = z.number().int().min(0).optional();

/** Why the model stopped, as OpenAI spells it. */
export const FinishReason = z.enum(['stop', 'length', 'tool_calls', 'content_filter', 'function_call']);
/** Why the model stopped, as OpenAI spells it. */
export type FinishReason = z.infer<typeof FinishReason>;

/** Content deltas. Split into word-ish pieces (`" word"`) unless `chunkSize` (characters) is given. */
export const TextStep = z.strictObject({
  text: z.string(),
  chunkSize: z.number().int().positive().optional(),
  delayMs,
});

/**
 * One tool call. `arguments` is the raw JSON text the model "writes" (an object is stringified).
 * `argChunks` is the number of argument deltas after the opening delta; 0 puts the whole
 * arguments in the opening delta (Groq/Mistral style). @default 3 (fewer if the text is shorter)
 */
export const ToolCallSpec = z.strictObject({
  id: z.string().min(1).optional(),
  name: z.string().min(1),
  arguments: z.union([z.string(), z.record(z.string(), z.unknown()).transform((args) => JSON.stringify(args))]),
  argChunks: chunkCount,
});

/** Tool call deltas in OpenAI's standard shape; several calls in one step are parallel calls. */
export const ToolCallsStep = z.strictObject({ toolCalls: z.array(ToolCallSpec).min(1), delayMs });

/** Pauses the stream until `release(name)` is called (or the client goes away). */
export const GateStep = z.strictObject({ waitFor: z.string().min(1) });

/** Pauses the stream for a fixed time without sending anything. */
export const PauseStep = z.strictObject({ pauseMs: z.number().int().min(0) });

/** One chunk with an arbitrary `choices[0].delta` (reasoning_content, refusal, odd provider fields). */
export const DeltaStep = z.strictObject({
  delta: z.record(z.string(), z.unknown()),
  finishReason: FinishReason.nullable().optional(),
  delayMs,
});

/** Raw bytes written as they are (an SSE comment such as `": keep-alive\n\n"`, a custom event). */
export const RawStep = z.strictObject({ raw: z.string(), delayMs });

/**
 * Replays a recorded SSE file byte for byte: a name in the fixtures directory, or a file path.
 * `delayMs` paces the events of the file.
 */
export const FixtureStep = z.strictObject({ fixture: z.string().min(1), delayMs });

/** One step of a script. */
export const Step = z.union([TextStep, ToolCallsStep, GateStep, PauseStep, DeltaStep, RawStep, FixtureStep]);
/** One step of a script. */
export type Step = z.infer<typeof Step>;

/** An HTTP error answered instead of a stream; `body` defaults to OpenAI's error shape for `status`. */
export const HttpError = z.strictObject({
  status: z.number().int().min(400).max(599),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
  message: z.string().optional(),
  type: z.string().optional(),
  code: z.string().nullable().optional(),
});
/** An HTTP error answered instead of a stream. */
export type HttpError = z.infer<typeof HttpError>;

/** Token usage reported in the final usage chunk (only when the request asks for it). */
export const Usage = z.strictObject({
  prompt_tokens: z.number().int().min(0),
  completion_tokens: z.number().int().min(0),
  total_tokens: z.number().int().min(0).optional(),
  /** OpenAI's breakdowns (`cached_tokens`, `reasoning_tokens`), sent as given. */
  prompt_tokens_details: z.record(z.string(), z.number().int().min(0)).optional(),
  completion_tokens_details: z.record(z.string(), z.number().int().min(0)).optional(),
});
/** Token usage reported in the final usage chunk. */
export type Usage = z.infer<typeof Usage>;

/** The payload of a mid-stream `event: error` (Groq style). */
export const ErrorEvent = z.strictObject({
  message: z.string(),
  type: z.string().optional(),
  code: z.string().nullable().optional(),
});

/**
 * What the scripted server answers to one request. Fault counters count SSE events already sent
 * (every `data:` chunk, raw step and fixture event; never `[DONE]`).
 */
export const Script = z
  .strictObject({
    steps: z.array(Step).default([]),
    /** Completion id. @default `chatcmpl-scripted-<requestIndex>` */
    id: z.string().min(1).optional(),
    /** `null` sends no finish chunk. @default `tool_calls` if the script has tool calls, else `stop` */
    finishReason: FinishReason.nullable().optional(),
    usage: Usage.optional(),
    /** Pause before every chunk but the first. @default 0 */
    delayMs,
    /** Pause before the first chunk (headers are sent at once). @default 0 */
    firstChunkDelayMs: delayMs,
    httpError: HttpError.optional(),
    dropAfterChunks: chunkCount,
    /** Ends the body cleanly (final HTTP chunk sent) after this many events: no `[DONE]`, a truncated stream. */
    closeAfterChunks: chunkCount,
    stallAfterChunks: chunkCount,
    /** How long a stall lasts; without it the stall lasts until the client goes away. */
    stallMs: delayMs,
    malformedAfterChunks: chunkCount,
    errorEventAfterChunks: chunkCount,
    errorEvent: ErrorEvent.optional(),
  })
  .superRefine((script, ctx) => {
    const hasFixture = script.steps.some((step) => 'fixture' in step);
    const generates = script.steps.some((step) => 'text' in step || 'toolCalls' in step || 'delta' in step);
    if (hasFixture && generates) {
      ctx.addIssue({
        code: 'custom',
        path: ['steps'],
        message: 'a fixture replay cannot be mixed with text, toolCalls or delta steps',
      });
    }
    if (script.stallMs !== undefined && script.stallAfterChunks === undefined) {
      ctx.addIssue({ code: 'custom', path: ['stallMs'], message: 'stallMs needs stallAfterChunks' });
    }
  });
/** What the scripted server answers to one request (validated, defaults applied). */
export type Script = z.infer<typeof Script>;

/** A script as written by hand or read from JSON: a full script or just its steps. */
export type ScriptInput = z.input<typeof Script> | z.input<typeof Step>[];

/**
 * Validates a script written by hand or read from JSON.
 * @throws ScriptError when the input is not a valid script.
 */
export function parseScript(input: unknown): Script {
  const parsed = Script.safeParse(Array.isArray(input) ? { steps: input } : input);
  if (!parsed.success) {
    throw new ScriptError(`invalid script:\n${z.prettifyError(parsed.error)}`, { cause: parsed.error });
  }
  return parsed.data;
}
