import {
  ApplicationFailure,
  CancelledFailure,
  TemporalFailure,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowFailedError,
} from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { publicFailureMessage } from '../common';

/** Why a turn's workflow closed, as the gateway reports it when the turn's stream holds no terminal event. */
export interface TurnClosure {
  errorType: string;
  message: string;
}

/**
 * Describes how a turn's workflow ended (the settled value of `TurnClient.result`). Used only for turns that
 * stopped without writing `done`/`error` to their stream: those that failed before their first write, or were
 * terminated by an operator. Messages are fixed per type ({@link publicFailureMessage}): a failure's own text
 * may hold internals and is not shown.
 */
export function describeClosure(outcome: { ok: true } | { ok: false; err: unknown }): TurnClosure {
  if (outcome.ok) return { errorType: 'turn.incomplete_stream', message: 'the turn ended without a final event' };
  const err = outcome.err;
  if (err instanceof WorkflowNotFoundError) return { errorType: 'turn.not_found', message: 'the turn does not exist' };
  if (!(err instanceof WorkflowFailedError))
    return { errorType: 'turn.unknown', message: "the turn's state is unknown" };
  let cause: unknown = err.cause;
  while (cause instanceof TemporalFailure && !(cause instanceof ApplicationFailure) && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure) {
    const errorType = cause.type ?? 'turn.failed';
    return { errorType, message: publicFailureMessage(errorType) };
  }
  if (cause instanceof TerminatedFailure) return { errorType: 'turn.terminated', message: 'the turn was terminated' };
  if (cause instanceof CancelledFailure) return { errorType: 'turn.cancelled', message: 'the turn was cancelled' };
  if (cause instanceof TimeoutFailure) return { errorType: 'turn.timed_out', message: 'the turn timed out' };
  return { errorType: 'turn.failed', message: publicFailureMessage('turn.failed') };
}
