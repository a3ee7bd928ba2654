// `turnflow/client`: what a backend service needs to start turns and follow them. Loads neither the Temporal worker,
// nor `openai`, nor the gateway (test/package/client-entry.test.ts proves it).
export { TurnClient, TurnNeverRanError, type TurnClientOptions, type TurnOutcome } from '../client/turn-client';
export { ConversationStuckError, ConversationUnavailableError, TurnStartTimeoutError } from '../client/errors';
export { CallDeadlineError } from '../client/deadline';
export { TurnConflictError, type OrderedTurnRequest } from '../client/ordered-start';
export {
  ApprovalConflictError,
  ApprovalExpiredError,
  ApprovalNotFoundError,
  ApprovalUnavailableError,
  InvalidPageCursorError,
} from '../client/approvals';
export type { TurnEventsOptions } from '../client/turn-events';
export { startTurn, InvalidTurnRequestError, type StartedTurn, type StartTurnDeps } from '../client/start-turn';
export { CursorOutOfRangeError } from '../client/cursors';
export { BudgetExhaustedError } from '../client/errors';
export { DailyTokenBudgets, secondsUntilUtcMidnight } from '../client/budget';
export { TurnOwnershipError } from '../client/access';
export { ConversationDeletingError } from '../client/errors';
export type { ConversationSummary } from '../client/conversations';
export {
  AesGcmPayloadCodec,
  encryptionDataConverter,
  EncryptionKeys,
  PayloadDecryptionError,
  UnknownEncryptionKeyError,
  type EncryptionKey,
} from '../codec';
export {
  AnswerAssembler,
  DoneEvent,
  ErrorEvent,
  HopLimitEvent,
  isTerminal,
  parseTurnId,
  PersistenceOptions,
  ResetEvent,
  searchAttributeKeys,
  StartTurnRequest,
  TASK_QUEUE,
  TextEvent,
  ToolCallsEvent,
  ToolCallSummary,
  ToolResultEvent,
  TurnEvent,
  turnIdFor,
  Usage,
  type ChatTurnResult,
  type SearchAttributeName,
  type TurnEventType,
  type TurnIdParts,
  type TurnProgress,
} from '../common';
export { cancelTurn, turnProgress, type CancelTurnInput, type chatTurn } from '../workflows';
// A Temporal client whose starts carry the caller's active span: `new Client({ interceptors: clientTracingInterceptors() })`.
export { clientTracingInterceptors } from '../tracing/client';
