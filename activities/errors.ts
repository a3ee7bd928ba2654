/**
 * Errors of the turn activities. Each is turned into a non-retryable `ApplicationFailure` at the activity
 * edge, with the dotted type named on the class. Their messages name only what the turn asked for: what the
 * worker serves is logged, never told to a caller.
 */

/** Thrown when a turn asks for a model the worker does not serve. Failure type `turn.unknown_model`. */
export class UnknownModelError extends Error {
  override readonly name = 'UnknownModelError';
  readonly failureType = 'turn.unknown_model';

  constructor(
    readonly model: string,
    readonly known: readonly string[],
  ) {
    super(`unknown model "${model}"`);
  }
}
