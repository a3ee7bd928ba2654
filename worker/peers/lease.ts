import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from 'pino';
import { isWorkerIdentity } from './identity';
import { PeerTracker } from './tracker';

/**
 * First key of every worker's lease lock (`pg_advisory_lock(LEASE_NAMESPACE, <per-process key>)`), so the leases are
 * told apart from any other advisory lock in the database. ASCII `tflw`.
 */
export const LEASE_NAMESPACE = 0x74_66_6c_77;
/** First key of the election locks: one survivor per lost peer acts on its loss. */
export const REAP_NAMESPACE = LEASE_NAMESPACE + 1;

/** The other workers' leases in this database: a lease is a two-key advisory lock in {@link LEASE_NAMESPACE}. */
const HOLDERS = `
  SELECT DISTINCT a.application_name AS identity
    FROM pg_locks l
    JOIN pg_stat_activity a ON a.pid = l.pid
   WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.classid = $1::oid
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND l.pid <> pg_backend_pid()`;

/** Options of {@link PeerLease}. */
export interface PeerLeaseOptions {
  databaseUrl: string;
  /** This process's Temporal worker identity, its connection's `application_name` ({@link isWorkerIdentity}). */
  identity: string;
  /** How often the other workers' leases are looked at. */
  pollMs: number;
  /** Called once per peer whose lease disappeared while this worker's connection stayed up (two looks in a row). */
  onLost(identity: string): void;
  logger: Logger;
  /** Longest pause between reconnects. @default 5000 */
  maxBackoffMs?: number;
}

/**
 * A worker's liveness in Postgres, and its view of the others'. One connection, kept for the process's life, holds a
 * session advisory lock: when the process dies the kernel closes its socket and Postgres drops the lock at once. The
 * same connection looks at the other workers' locks every {@link PeerLeaseOptions.pollMs}; one that disappears is a
 * lost peer. A dropped connection (a Postgres restart) is reconnected with backoff, never fatal; while it is down, and
 * after it failed, nothing is reported (every lease dropped with it).
 */
export class PeerLease {
  readonly #opts: PeerLeaseOptions;
  readonly #tracker = new PeerTracker();
  readonly #stop = new AbortController();
  /** Peers whose lease was missing at the last look, reported if the next look on the same connection agrees. */
  #suspects = new Set<string>();
  #client: pg.Client | undefined;
  #key = randomInt(1, 2 ** 31);
  #loop: Promise<void> | undefined;

  constructor(opts: PeerLeaseOptions) {
    if (!isWorkerIdentity(opts.identity)) throw new Error(`not a valid worker identity: ${String(opts.identity)}`);
    this.#opts = opts;
  }

  /** The peers holding a lease at the last look. */
  get peers(): ReadonlySet<string> {
    return this.#tracker.known;
  }

  /** Whether this worker holds its lease now. */
  get held(): boolean {
    return this.#client !== undefined;
  }

  /** Starts holding the lease and watching the others'. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Releases the lease (closing its connection) and stops watching. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    await this.#drop();
  }

  /**
   * Runs `act` if this worker wins the election for `lost` (a session lock in {@link REAP_NAMESPACE} on the lease
   * connection, released afterwards); `false` when another survivor holds it or the connection is down. A survivor
   * that looks later finds nothing left to do, so the election only spares the duplicate work.
   */
  async elected(lost: string, act: () => Promise<void>): Promise<boolean> {
    const client = this.#client;
    if (!client) return false;
    const key = [REAP_NAMESPACE, lost];
    const won = await client
      .query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', key)
      .then((r) => r.rows[0]?.ok === true)
      .catch(() => false);
    if (!won) return false;
    try {
      await act();
    } finally {
      await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', key).catch(() => undefined);
    }
    return true;
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    let backoffMs = 250;
    while (!signal.aborted) {
      if (!this.#client) {
        try {
          await this.#connect();
          backoffMs = 250;
        } catch (err: unknown) {
          this.#opts.logger.warn(
            { err: err instanceof Error ? err.message : String(err), retryInMs: backoffMs },
            'worker lease: cannot reach Postgres',
          );
          await sleep(backoffMs, undefined, { signal }).catch(() => undefined);
          backoffMs = Math.min(backoffMs * 2, this.#opts.maxBackoffMs ?? 5_000);
          continue;
        }
      }
      await this.#poll();
      await sleep(this.#opts.pollMs, undefined, { signal }).catch(() => undefined);
    }
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.#opts.databaseUrl,
      application_name: this.#opts.identity,
      connectionTimeoutMillis: 5_000,
      // A poll that hangs (a server gone without a reset) counts as a dropped connection.
      query_timeout: Math.max(5_000, this.#opts.pollMs * 4),
      keepAlive: true,
    });
    // An error on an idle connection would otherwise be thrown and end the process; the next poll notices it.
    client.on('error', () => undefined);
    try {
      await client.connect();
      // A random key may be another process's: pick again (the space is 2^31 per database).
      for (let tries = 0; ; tries += 1) {
        const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [
          LEASE_NAMESPACE,
          this.#key,
        ]);
        if (rows[0]?.ok === true) break;
        if (tries >= 5) throw new Error('no free worker lease key');
        this.#key = randomInt(1, 2 ** 31);
      }
    } catch (err: unknown) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.#client = client;
    this.#opts.logger.info({ identity: this.#opts.identity }, 'worker lease held');
  }

  async #poll(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    let holders: string[];
    try {
      const { rows } = await client.query<{ identity: unknown }>(HOLDERS, [LEASE_NAMESPACE]);
      holders = rows.map((r) => r.identity).filter(isWorkerIdentity);
    } catch (err: unknown) {
      this.#opts.logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'worker lease: connection lost',
      );
      // Every lease went with this connection if Postgres restarted: their absence says nothing about the peers.
      this.#tracker.forget();
      this.#suspects.clear();
      await this.#drop();
      return;
    }
    const before = this.#tracker.known;
    const lost = this.#tracker.observe(holders);
    for (const identity of holders) {
      if (!before.has(identity)) this.#opts.logger.info({ peer: identity }, 'worker lease: peer seen');
    }
    // A loss counts once a second look on this connection confirms it: a Postgres shutdown ends every backend at
    // about the same time, and this connection would fail before that second look.
    const confirmed = [...this.#suspects].filter((identity) => !holders.includes(identity));
    this.#suspects = new Set(lost);
    for (const identity of confirmed) {
      this.#opts.logger.warn({ peer: identity }, 'worker lease: peer lost');
      this.#opts.onLost(identity);
    }
  }

  async #drop(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }
}
