/**
 * Errors of the turn activities. Each is turned into a non-retryable `ApplicationFailure` at the activity
 * edge (see `toTurnFailure`), with the dotted type named on the class.
 */

/** Thrown when a turn names a conversation that belongs to another tenant. Failure type `turn.forbidden`. */
export class ConversationOwnershipError extends Error {
  override readonly name = 'ConversationOwnershipError';
  readonly failureType = 'turn.forbidden';

  constructor(readonly conversationId: string) {
    super(`conversation ${conversationId} belongs to another tenant`);
  }
}

/** Thrown when a turn asks for a model the worker does not serve. Failure type `turn.unknown_model`. */
export class UnknownModelError extends Error {
  override readonly name = 'UnknownModelError';
  readonly failureType = 'turn.unknown_model';

  constructor(
    readonly model: string,
    readonly known: readonly string[],
  ) {
    super(`unknown model "${model}"; this worker serves: ${known.join(', ')}`);
  }
}
