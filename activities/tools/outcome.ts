import { z } from 'zod';

/** Why a tool call failed in a way the model is told about. */
export const ToolErrorType = z.enum([
  'unknown_tool',
  'invalid_json',
  'invalid_arguments',
  'tool_error',
  'timeout',
  'cancelled',
]);
/** Why a tool call failed in a way the model is told about. */
export type ToolErrorType = z.infer<typeof ToolErrorType>;

/**
 * The result of one tool call, as the model will read it (the `content` of the `tool` message).
 * Failures the model should know about are outcomes with `isError: true`, never exceptions.
 */
export const ToolOutcome = z.object({
  /** The tool's result (strings as-is, other values as JSON) or an explanation of the failure. */
  content: z.string(),
  /** Whether `content` describes a failure. */
  isError: z.boolean(),
  /** The kind of failure; absent on success. */
  errorType: ToolErrorType.optional(),
});
/** The result of one tool call, as the model will read it. */
export type ToolOutcome = z.infer<typeof ToolOutcome>;
