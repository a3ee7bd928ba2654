import { ApplicationFailure } from '@temporalio/common';
import { RetryableToolError } from './errors';

/** `ApplicationFailure.type`s the tool activity fails with. */
export const TOOL_FAILURE_TYPES = {
  /** A tool threw `RetryableToolError`: retried under the tool's policy. */
  retryable: 'tool.retryable',
  /** Anything else that escaped `runToolCall` (a caller bug such as `ToolCallMismatchError`): not retried. */
  internal: 'tool.internal',
} as const;

/**
 * Turns an error that escaped {@link runToolCall} into the Temporal failure the tool activity
 * throws: `RetryableToolError` → retryable `tool.retryable` (with `nextRetryDelay` from its
 * `retryAfterMs`); an `ApplicationFailure` → unchanged; anything else → non-retryable `tool.internal`.
 * Once retries are exhausted the workflow still owes the model a `tool` message for the call.
 */
export function toToolFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const cause = err instanceof Error ? err : new Error(String(err));
  // The tool's own text may quote its arguments or the systems it calls, and the failure reaches Temporal's
  // history: the message is ours and the error is not its `cause` (the activity logs it).
  if (err instanceof RetryableToolError) {
    return ApplicationFailure.create({
      type: TOOL_FAILURE_TYPES.retryable,
      message: 'the tool failed transiently and asked to be retried',
      nonRetryable: false,
      ...(err.retryAfterMs === undefined ? {} : { nextRetryDelay: err.retryAfterMs }),
    });
  }
  return ApplicationFailure.create({
    type: TOOL_FAILURE_TYPES.internal,
    message: `the tool call failed (${cause.name.slice(0, 60)})`,
    nonRetryable: true,
  });
}
