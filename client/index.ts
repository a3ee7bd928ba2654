export { startTurn, InvalidTurnRequestError, type StartedTurn, type StartTurnDeps } from './start-turn';
export { CatalogCache, catalogProblem, publishCatalog, readCatalog, type WorkerCatalog } from './catalog';
export { TurnClient, type TurnClientOptions, type TurnOutcome } from './turn-client';
export { EventHub, type EventHubOptions, type LiveMessage } from './event-hub';
export { turnEvents, type TurnEventsOptions } from './turn-events';
export { checkCursor, CursorOutOfRangeError } from './cursors';
export {
  conversationMessages,
  finalMessageOf,
  STORED_EVENTS_PAGE,
  storedEventsAfter,
  type ConversationMessage,
} from './store';
export { claimTurn, tenantSeesConversation, tenantSeesTurn, TurnOwnershipError, type TurnClaim } from './access';
export { EnvBool, TemporalEnv, temporalConnectionOptions, temporalEnvProblem } from './temporal-env';
export { signalOnShutdown, waitFor, type WaitForOptions } from './wait-for';
