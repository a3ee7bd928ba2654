export { startTurn, InvalidTurnRequestError, type StartedTurn } from './start-turn';
export { TurnClient, type TurnClientOptions, type TurnOutcome } from './turn-client';
export { EventHub, type EventHubOptions, type LiveMessage } from './event-hub';
export { turnEvents, type TurnEventsOptions } from './turn-events';
export { checkCursor, CursorOutOfRangeError } from './cursors';
export {
  conversationMessages,
  conversationTenant,
  finalMessageOf,
  storedEventsAfter,
  turnTenant,
  type ConversationMessage,
} from './store';
export { EnvBool, TemporalEnv, temporalConnectionOptions, temporalEnvProblem } from './temporal-env';
