import type { StartTurnRequest } from '../../common';
import type { TurnClient } from '../../client';

/**
 * Starts (or attaches to) the turn a chat request asks for, in its conversation's order with policy `enqueue`: a
 * message sent while an answer streams waits for it (its stream shows it queued), whatever the gateway's default
 * policy, because a `useChat` client reads one answer per message it sent.
 * @throws InvalidTurnRequestError when the request is invalid or names a model or tool the workers do not serve.
 * @throws TurnConflictError when the conversation's queue is full.
 */
export function startChatTurn(
  turns: TurnClient,
  request: StartTurnRequest,
): Promise<{ turnId: string; attached: boolean }> {
  return turns.start({ ...request, doubleTexting: 'enqueue' });
}
