export { chatTurn, cancelTurn, turnProgress, type CancelTurnInput } from './chat-turn';
