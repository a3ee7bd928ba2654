export { startTurn, InvalidTurnRequestError, type StartedTurn } from './start-turn';
