import {
  ApplicationFailure,
  CancelledFailure,
  TemporalFailure,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowFailedError,
} from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';

/** Why a turn's workflow closed, as the gateway reports it when the turn's stream holds no terminal event. */
export interface TurnClosure {
  errorType: string;
  message: string;
}

/**
 * Describes how a turn's workflow ended (the settled value of `TurnClient.result`). Used only for turns that
 * stopped without writing `done`/`error` to their stream: those that failed before their first write (unknown
 * model or tools, a conversation another tenant claimed meanwhile), or were terminated by an operator.
 */
export function describeClosure(outcome: { ok: true } | { ok: false; err: unknown }): TurnClosure {
  if (outcome.ok) return { errorType: 'turn.incomplete_stream', message: 'the turn ended without a final event' };
  const err = outcome.err;
  if (err instanceof WorkflowNotFoundError) return { errorType: 'turn.not_found', message: 'the turn does not exist' };
  if (!(err instanceof WorkflowFailedError)) {
    return { errorType: 'turn.unknown', message: err instanceof Error ? err.message : String(err) };
  }
  let cause: unknown = err.cause;
  while (cause instanceof TemporalFailure && !(cause instanceof ApplicationFailure) && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure) {
    const errorType = cause.type ?? 'turn.failed';
    // Another tenant's conversation is reported like a missing one, as everywhere else in the gateway.
    if (errorType === 'turn.forbidden') return { errorType: 'turn.not_found', message: 'conversation not found' };
    return { errorType, message: cause.message };
  }
  if (cause instanceof TerminatedFailure) return { errorType: 'turn.terminated', message: 'the turn was terminated' };
  if (cause instanceof CancelledFailure) return { errorType: 'turn.cancelled', message: 'the turn was cancelled' };
  if (cause instanceof TimeoutFailure) return { errorType: 'turn.timed_out', message: 'the turn timed out' };
  return { errorType: 'turn.failed', message: err.message };
}
