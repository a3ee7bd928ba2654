import type { StartTurnRequest } from '../../common';
import type { TurnClient } from '../../client';

/**
 * Starts (or attaches to) the turn a chat request asks for. The one place the chat endpoints start turns: when
 * turns of a conversation are ordered (issue 11), this is where the ordered start (policy `enqueue`: a message
 * sent while an answer streams waits for it) replaces the direct one.
 * @throws InvalidTurnRequestError when the request is invalid or names a model or tool the workers do not serve.
 */
export function startChatTurn(
  turns: TurnClient,
  request: StartTurnRequest,
): Promise<{ turnId: string; attached: boolean }> {
  return turns.start(request);
}
