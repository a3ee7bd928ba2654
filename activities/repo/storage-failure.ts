import { ApplicationFailure, CancelledFailure } from '@temporalio/common';

/** The `type` of every `ApplicationFailure` {@link toStorageFailure} produces. */
export const StorageFailureType = {
  /** The data cannot be stored as it is (SQLSTATE classes 22, 23, 42, 54, …): retrying cannot help. */
  invalidData: 'storage.invalid_data',
  /** Postgres is unreachable, restarting, overloaded, or the transaction lost a race: retried. */
  unavailable: 'storage.unavailable',
} as const;

/**
 * SQLSTATE classes (first two characters) that are transient: connection exceptions (08), operator intervention
 * such as a restart or a cancelled statement (57), insufficient resources (53), transaction rollbacks from
 * serialization failures or deadlocks (40), and system errors (58, XX may be a crashed backend).
 */
const TRANSIENT_CLASSES = new Set(['08', '40', '53', '57', '58', 'XX']);

/** The SQLSTATE of a Postgres error (pg's `DatabaseError.code`), or `undefined` for anything else. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * The one place storage errors are classified, at the edge of every storage activity. A Postgres error with a
 * SQLSTATE outside the transient classes (data exceptions 22, integrity 23, syntax/undefined objects 42, program
 * limits 54 such as an index row too large, …) is a property of the data: a non-retryable
 * `storage.invalid_data`, so the activity fails once instead of retrying forever. Errors without a SQLSTATE (a
 * refused or dropped connection, a pool timeout) and transient classes retry as `storage.unavailable`. An
 * `ApplicationFailure` passes through unchanged.
 */
export function toStorageFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const cause = err instanceof Error ? err : new Error(String(err));
  const state = sqlState(err);
  const transient = state === undefined || TRANSIENT_CLASSES.has(state.slice(0, 2));
  // Postgres quotes the data it refuses ("invalid input syntax …: <value>"), and the failure reaches Temporal's
  // history: the message names the SQLSTATE only, and the error is not its `cause`. Errors without one are the
  // driver's own (a refused connection, a pool timeout).
  return ApplicationFailure.create({
    type: transient ? StorageFailureType.unavailable : StorageFailureType.invalidData,
    message:
      state === undefined
        ? `storage failed: ${cause.message.slice(0, 200)}`
        : `storage failed (SQLSTATE ${state}, ${cause.name.slice(0, 60)})`,
    nonRetryable: !transient,
  });
}

/**
 * Runs a storage step, turning what it throws into {@link toStorageFailure}'s failure. An activity's own
 * cancellation passes through: the workflow must see that the activity stopped as asked, not a storage error.
 */
export async function storageStep<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err: unknown) {
    if (err instanceof CancelledFailure) throw err;
    throw toStorageFailure(err);
  }
}
