import { createApprovalActivities } from './approval-activities';
import { createConversationActivities } from './conversation-activities';
import type { ActivityDeps } from './deps';
import { createLlmActivity } from './llm-activity';
import { createToolActivities } from './tool-activities';
import { createTurnActivities } from './turn-activities';

export type { ActivityDeps } from './deps';
export type { StreamCompletionInput, StreamCompletionResult, LlmHeartbeat } from './llm-activity';
export type {
  ExecuteToolInput,
  ExecuteToolResult,
  RecordToolResultsInput,
  ResolveStoppedToolCallsInput,
  StoreToolFailureInput,
} from './tool-activities';
export type {
  PendingApproval,
  RecordApprovalDecisionInput,
  RecordedApprovalDecision,
  RequestApprovalsInput,
} from './approval-activities';
export { DEFAULT_APPROVAL_TIMEOUT_MS, deniedToolResult } from './approval-activities';
export type { PrepareTurnInput, PrepareTurnResult, CompleteTurnInput, FailTurnInput } from './turn-activities';
export type {
  AnnounceQueuedInput,
  AwaitDirectTurnInput,
  DropQueuedTurnInput,
  StoreSteersInput,
} from './conversation-activities';

/**
 * Prefix of every activity type turnflow registers. On a worker shared with a team's own activities, the SDK merges
 * every activity into one object by name: a team's `executeTool` or `completeTurn` would silently replace ours.
 */
export const ACTIVITY_PREFIX = 'turnflow.';

/** Every activity of a turn, bound to the worker's resources, under its short name. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createTurnActivities(deps),
    streamCompletion: createLlmActivity(deps),
    ...createToolActivities(deps),
    ...createConversationActivities(deps),
    ...createApprovalActivities(deps),
  };
}

/** Every activity under its short name (the key the factories use). */
export type Activities = ReturnType<typeof createActivities>;

/** The activity interface workflows proxy: every activity under its `turnflow.` type name. */
export type TurnflowActivities = { [K in keyof Activities as `turnflow.${K}`]: Activities[K] };

/**
 * What a worker registers: every activity under its `turnflow.` name only, so a team activity of the same short name
 * never replaces one of ours.
 */
export function workerActivities(deps: ActivityDeps): TurnflowActivities {
  const activities = createActivities(deps);
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [`${ACTIVITY_PREFIX}${name}`, fn]),
  ) as TurnflowActivities;
}
