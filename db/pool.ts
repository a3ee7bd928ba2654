import pg from 'pg';

/** Receives a connection error that would otherwise have been thrown as an unhandled `'error'` event. */
export type ConnectionErrorHandler = (err: Error) => void;

/**
 * A `pg.Pool` that no dropped connection can kill the process through. node-postgres emits `'error'` on
 * the pool for an idle client and on the client itself for a checked-out one (a streaming hop holds one for
 * the whole stream); an `'error'` event without a listener is thrown, so a Postgres restart would end the
 * process. Both get a listener here; the query in flight still rejects, and the pool replaces the client.
 */
export function createPool(config: pg.PoolConfig, onError: ConnectionErrorHandler): pg.Pool {
  const pool = new pg.Pool(config);
  // Every error reaches the client's listener below; the pool re-emits an idle client's error, unreported.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', onError));
  return pool;
}

/** A `pg.Client` whose connection errors go to `onError` instead of ending the process. */
export function createClient(config: string | pg.ClientConfig, onError: ConnectionErrorHandler): pg.Client {
  const client = new pg.Client(config);
  client.on('error', onError);
  return client;
}

// SQLSTATE classes/codes that mean "the server is not there right now": connection exceptions (08),
// shutting down / starting up / crash recovery (57P01-57P03), too many connections (53300).
const TRANSIENT_SQLSTATE = /^(08|57P0[1-3]|53300)/;
const TRANSIENT_SOCKET = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE)$/;

/**
 * Whether a Postgres error means the server is unreachable or not ready (worth waiting for), as opposed to
 * a wrong password, a missing database or a failing migration, which waiting will not fix.
 */
export function isPostgresUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth += 1) {
    const code: unknown = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (TRANSIENT_SQLSTATE.test(code) || TRANSIENT_SOCKET.test(code))) return true;
    if (
      /Connection terminated|timeout expired|timeout exceeded when trying to connect|not queryable|the database system is (starting|shutting)/i.test(
        e.message,
      )
    )
      return true;
    if (e instanceof AggregateError && e.errors.some((inner) => isPostgresUnavailable(inner))) return true;
  }
  return false;
}
