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
  if (err instanceof RetryableToolError) {
    return ApplicationFailure.create({
      type: TOOL_FAILURE_TYPES.retryable,
      message: err.message,
      nonRetryable: false,
      cause,
      ...(err.retryAfterMs === undefined ? {} : { nextRetryDelay: err.retryAfterMs }),
    });
  }
  return ApplicationFailure.create({
    type: TOOL_FAILURE_TYPES.internal,
    message: cause.message,
    nonRetryable: true,
    cause,
  });
}
