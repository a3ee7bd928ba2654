import type { RetryPolicy } from '@temporalio/common';
import type { Tool } from './define';

/**
 * Time budget of one tool attempt when the tool does not set `timeoutMs`.
 * @default 30000
 */
export const DEFAULT_TOOL_TIMEOUT_MS = 30_000;

/** Retry policy of a tool that does not set `retry`. */
export const DEFAULT_TOOL_RETRY = {
  maximumAttempts: 3,
  initialIntervalMs: 1_000,
  backoffCoefficient: 2,
  maximumIntervalMs: 30_000,
} as const;

/**
 * How the activity running a tool should be scheduled (an activity of its own, or a local one), in plain
 * JSON so it can travel in workflow input (workflows cannot import the registry). `retry` is Temporal's `RetryPolicy` (intervals in
 * ms); set the activity's `startToCloseTimeout` a little above `timeoutMs`, since the tool's own
 * timeout is enforced inside the activity and reported to the model.
 */
export interface ToolPolicy {
  /** Time budget of one attempt, in milliseconds. */
  readonly timeoutMs: number;
  /** The call runs as a local activity in the workflow task (see `ToolConfig.local`). */
  readonly local: boolean;
  /** Temporal retry policy for the tool's activity. */
  readonly retry: Required<Pick<RetryPolicy, 'maximumAttempts' | 'backoffCoefficient'>> & {
    readonly initialInterval: number;
    readonly maximumInterval: number;
  };
}

/** Resolves a tool's timeout and retry options against the defaults. */
export function toolPolicy(tool: Pick<Tool, 'timeoutMs' | 'retry' | 'local'>): ToolPolicy {
  const retry = tool.retry ?? {};
  return {
    timeoutMs: tool.timeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS,
    local: tool.local === true,
    retry: {
      maximumAttempts: retry.maximumAttempts ?? DEFAULT_TOOL_RETRY.maximumAttempts,
      initialInterval: retry.initialIntervalMs ?? DEFAULT_TOOL_RETRY.initialIntervalMs,
      backoffCoefficient: retry.backoffCoefficient ?? DEFAULT_TOOL_RETRY.backoffCoefficient,
      maximumInterval: retry.maximumIntervalMs ?? DEFAULT_TOOL_RETRY.maximumIntervalMs,
    },
  };
}
