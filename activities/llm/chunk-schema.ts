import { z } from 'zod';

// What the reader needs from a `chat.completion.chunk`, as providers really send it: every field
// may be missing or null, unknown fields are ignored. Fields the answer depends on (content,
// refusal, tool calls, finish reason, choice index) are checked strictly so a malformed chunk
// fails loudly instead of silently losing text; side channels (reasoning, usage) are read
// leniently in the accumulator.

/** One element of a content array (Mistral): `text`, `thinking`, or a type we ignore. */
export const ContentPart = z.looseObject({ type: z.string() });
/** One element of a content array. */
export type ContentPart = z.infer<typeof ContentPart>;

/** One entry of `delta.tool_calls`; `index`, `id`, `type` are missing with some providers. */
export const ToolCallDelta = z.object({
  index: z.number().int().nonnegative().nullish(),
  id: z.string().nullish(),
  type: z.string().nullish(),
  function: z
    .object({
      name: z.string().nullish(),
      arguments: z.string().nullish(),
    })
    .nullish(),
});
/** One entry of `delta.tool_calls`. */
export type ToolCallDelta = z.infer<typeof ToolCallDelta>;

/** `choices[i].delta`. */
export const ChunkDelta = z.object({
  content: z.union([z.string(), z.array(ContentPart)]).nullish(),
  refusal: z.string().nullish(),
  reasoning_content: z.unknown().optional(),
  reasoning: z.unknown().optional(),
  tool_calls: z.array(ToolCallDelta).nullish(),
});
/** `choices[i].delta`. */
export type ChunkDelta = z.infer<typeof ChunkDelta>;

/** One element of `choices`; a missing `index` means 0. */
export const ChunkChoice = z.object({
  index: z.number().int().nonnegative().nullish(),
  delta: ChunkDelta.nullish(),
  finish_reason: z.string().nullish(),
});
/** One element of `choices`. */
export type ChunkChoice = z.infer<typeof ChunkChoice>;

/** A streamed chunk. `choices` is optional so error-shaped payloads can be recognised, not rejected. */
export const Chunk = z.object({
  choices: z.array(ChunkChoice).nullish(),
  usage: z.unknown().optional(),
  x_groq: z.unknown().optional(),
  error: z.unknown().optional(),
  message: z.unknown().optional(),
});
/** A streamed chunk. */
export type Chunk = z.infer<typeof Chunk>;
