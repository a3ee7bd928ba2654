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
export type { PrepareTurnResult, CompleteTurnInput, FailTurnInput } from './turn-activities';
export type { AnnounceQueuedInput, DropQueuedTurnInput, StoreSteersInput } from './conversation-activities';

/** Every activity of a turn, bound to the worker's resources. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createTurnActivities(deps),
    streamCompletion: createLlmActivity(deps),
    ...createToolActivities(deps),
    ...createConversationActivities(deps),
  };
}

/** The activity interface workflows proxy (`proxyActivities<Activities>`). */
export type Activities = ReturnType<typeof createActivities>;
