export { chatTurn, cancelTurn, turnProgress, type CancelTurnInput } from './chat-turn';
export {
  conversation,
  submitTurn,
  cancelConversationTurn,
  conversationTurns,
  MAX_QUEUED_TURNS,
  DEFAULT_CONVERSATION_IDLE_MS,
  type CancelConversationTurnInput,
  type ConversationInput,
  type ConversationTurn,
  type ConversationTurns,
  type QueuedTurn,
  type SubmitTurnInput,
  type SubmitTurnResult,
} from './conversation';
export { steerTurn, steersAccepted, type SteerTurnInput, type SteersAcceptedInput } from './conversation-signals';
export {
  APPROVAL_FAILURE,
  decideApproval,
  supersedeApprovals,
  type ApprovalDecision,
  type DecideApprovalInput,
} from './approvals';
