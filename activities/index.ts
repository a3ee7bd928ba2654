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
  StoreToolFailureInput,
} from './tool-activities';
export type { PrepareTurnResult, CompleteTurnInput, FailTurnInput } from './turn-activities';

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
  };
}

/** The activity interface under the short names (runs started before the prefix schedule these). */
export type Activities = ReturnType<typeof createActivities>;

/** The activity interface workflows proxy: every activity under its `turnflow.` type name. */
export type TurnflowActivities = { [K in keyof Activities as `turnflow.${K}`]: Activities[K] };

/**
 * What a worker registers: every activity under its `turnflow.` name, and under its old short name too, so turns
 * that were in flight when the worker was upgraded (their histories schedule the short names) finish. A team
 * activity of the same short name only ever shadows the alias, never what new turns run.
 */
export function workerActivities(deps: ActivityDeps): TurnflowActivities & Activities {
  const activities = createActivities(deps);
  const prefixed = Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [`${ACTIVITY_PREFIX}${name}`, fn]),
  ) as TurnflowActivities;
  return { ...activities, ...prefixed };
}
