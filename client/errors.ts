/**
 * Thrown by `TurnClient.start` (and `startOrderedTurn`) when the conversation did not accept the turn within the
 * start deadline: no worker polls the task queue, or none can take the conversation's workflow task. The request
 * is stored and may still be accepted once a worker polls; retrying the same request (same request id) attaches to
 * that turn and never starts a second one.
 */
export class TurnStartTimeoutError extends Error {
  override readonly name = 'TurnStartTimeoutError';

  constructor(
    /** The request's own turn id. */
    readonly turnId: string,
    /** How long the start waited, in milliseconds. */
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(
      `turn ${turnId} was not accepted within ${timeoutMs} ms: no worker took the conversation's workflow task; ` +
        'retry the same request to attach to it',
      options,
    );
  }
}

/**
 * Thrown by a claim (and so by every start) while the conversation is being deleted: nothing is stored. Once the
 * deletion has finished, the same conversation id starts a new, empty conversation.
 */
export class ConversationDeletingError extends Error {
  override readonly name = 'ConversationDeletingError';

  constructor(readonly conversationId: string) {
    super(`conversation ${conversationId} is being deleted`);
  }
}
