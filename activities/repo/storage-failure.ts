import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { DatabaseError } from 'pg';

/** The `type` of every `ApplicationFailure` {@link toStorageFailure} produces. */
export const StorageFailureType = {
  /** The data cannot be stored as it is (SQLSTATE classes 22, 23, 42, 54, …): retrying cannot help. */
  invalidData: 'storage.invalid_data',
  /** Postgres is unreachable, restarting, overloaded, or the transaction lost a race: retried. */
  unavailable: 'storage.unavailable',
  /** The storage step broke one of its own invariants (not Postgres, not the connection): retrying cannot help. */
  failed: 'storage.failed',
} as const;

/**
 * SQLSTATE classes (first two characters) that are transient: connection exceptions (08), operator intervention
 * such as a restart or a cancelled statement (57), insufficient resources (53), transaction rollbacks from
 * serialization failures or deadlocks (40), and system errors (58, XX may be a crashed backend).
 */
const TRANSIENT_CLASSES = new Set(['08', '40', '53', '57', '58', 'XX']);

/**
 * The SQLSTATE of an error Postgres sent (pg's `DatabaseError`: a five-character `code` and a `severity`), or
 * `undefined` for anything else. A Node socket error's `code` (`EPIPE`, `EPERM`) is five characters too: it is not
 * a SQLSTATE.
 */
export function sqlState(err: unknown): string | undefined {
  if (!(err instanceof DatabaseError)) return undefined;
  const code = err.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** What pg and Node say when the connection, not the statement, failed (pg throws plain `Error`s for these). */
const CONNECTION_MESSAGE =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed|Connection ended|Query read timeout|pool after calling end|not queryable/i;

/** A failure of the connection to Postgres, not of what was asked of it: a socket error or pg's own words for one. */
function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const { code, syscall } = err as { code?: unknown; syscall?: unknown };
  if (typeof syscall === 'string' || (typeof code === 'string' && /^E[A-Z_]+$/.test(code))) return true;
  return CONNECTION_MESSAGE.test(err.message);
}

/**
 * The one place storage errors are classified, at the edge of every storage activity. A Postgres error with a
 * SQLSTATE outside the transient classes (data exceptions 22, integrity 23, syntax/undefined objects 42, program
 * limits 54 such as an index row too large, …) is a property of the data: a non-retryable
 * `storage.invalid_data`, so the activity fails once instead of retrying forever. Transient classes and a lost
 * connection (refused, reset, a pool timeout) retry as `storage.unavailable`. Anything else is a fault of the step
 * itself (a broken invariant), which no retry mends: a non-retryable `storage.failed`. An `ApplicationFailure`
 * passes through unchanged.
 */
export function toStorageFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const cause = err instanceof Error ? err : new Error(String(err));
  const state = sqlState(err);
  if (state === undefined) {
    const connection = isConnectionError(err);
    return ApplicationFailure.create({
      type: connection ? StorageFailureType.unavailable : StorageFailureType.failed,
      message: `storage failed: ${cause.message.slice(0, 200)}`,
      nonRetryable: !connection,
    });
  }
  const transient = TRANSIENT_CLASSES.has(state.slice(0, 2));
  // Postgres quotes the data it refuses ("invalid input syntax …: <value>"), and the failure reaches Temporal's
  // history: the message names the SQLSTATE only, and the error is not its `cause`.
  return ApplicationFailure.create({
    type: transient ? StorageFailureType.unavailable : StorageFailureType.invalidData,
    message: `storage failed (SQLSTATE ${state}, ${cause.name.slice(0, 60)})`,
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
