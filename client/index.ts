export { startTurn, InvalidTurnRequestError, type StartedTurn, type StartTurnDeps } from './start-turn';
export { CatalogCache, catalogProblem, publishCatalog, readCatalog, type WorkerCatalog } from './catalog';
export { TurnClient, TurnNeverRanError, type TurnClientOptions, type TurnOutcome } from './turn-client';
export {
  startOrderedTurn,
  DEFAULT_START_TIMEOUT_MS,
  listConversationTurns,
  cancelInConversation,
  OrderedTurnRequest,
  TurnConflictError,
  type OrderedStart,
  type OrderedStartDeps,
  type OrderedStartOptions,
} from './ordered-start';
export {
  BudgetExhaustedError,
  ConversationDeletingError,
  ConversationStuckError,
  ConversationUnavailableError,
  TurnStartTimeoutError,
} from './errors';
export { checkDailyBudget, DailyTokenBudgets, secondsUntilUtcMidnight } from './budget';
export {
  deleteConversation,
  listConversations,
  TITLE_CHARS,
  type ConversationSummary,
  type DeleteConversationDeps,
} from './conversations';
export { startDirect } from './direct-start';
export { EventHub, type EventHubOptions, type LiveMessage } from './event-hub';
export { turnEvents, type TurnEventsOptions } from './turn-events';
export { checkCursor, CursorOutOfRangeError } from './cursors';
export { CallDeadlineError } from './deadline';
export {
  conversationMessages,
  finalMessageOf,
  STORED_EVENTS_PAGE,
  storedEventsAfter,
  turnState,
  type ConversationMessage,
} from './store';
export {
  claimTurn,
  claimQueuedTurn,
  claimOrderedTurn,
  type OrderedClaim,
  releaseQueuedClaim,
  startWhileUndeleted,
  type HeldTurn,
  tenantSeesConversation,
  tenantSeesTurn,
  TurnOwnershipError,
  type QueuedClaim,
  type TurnClaim,
} from './access';
export { signalOnShutdown, waitFor, type WaitForOptions } from './wait-for';
export {
  usageReport,
  MAX_USAGE_GROUPS,
  TURN_OUTCOME_SQL,
  type UsageGroup,
  type UsageGroupBy,
  type UsageReport,
  type UsageTotals,
} from './usage';
export {
  ApprovalConflictError,
  ApprovalDecisionRequest,
  ApprovalExpiredError,
  ApprovalUnavailableError,
  ApprovalNotFoundError,
  decideApproval,
  InvalidPageCursorError,
  listPendingApprovals,
  MAX_DECISION_REASON_CHARS,
  type ApprovalOutcome,
  type PendingApprovalView,
} from './approvals';
