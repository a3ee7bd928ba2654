import type pg from 'pg';
import { ApiError } from './errors';

/** Per-tenant limits of the gateway. 0 turns a limit off. */
export interface LimitOptions {
  /** Turns of one tenant running at once, counted across the fleet from Postgres. @default 25 */
  maxRunningTurns: number;
  /** Event streams one tenant holds open on this gateway process. @default 100 */
  maxOpenStreams: number;
  /** `Retry-After` of a 429, in seconds. @default 5 */
  retryAfterSeconds: number;
  /**
   * How long a turn this process started counts as running while its row is not stored yet (the worker's
   * `prepareTurn` writes it, possibly seconds later under load; a turn that never gets a row stops counting).
   * @default 60000
   */
  pendingMs?: number;
}

/** The default limits (see the README for why). */
export const DEFAULT_LIMITS: LimitOptions = { maxRunningTurns: 25, maxOpenStreams: 100, retryAfterSeconds: 5 };

/**
 * The one query behind the running-turn limit: how many of `tenant`'s turns are running, and which of `ids` are
 * stored (any status). Adapt here when the tenant moves onto `turns`.
 */
export async function runningTurnsOf(
  pool: pg.Pool,
  tenant: string,
  ids: readonly string[],
): Promise<{ running: number; stored: Set<string> }> {
  const { rows } = await pool.query<{ running: number; stored: string[] }>(
    `SELECT (SELECT count(*)::int FROM turns WHERE tenant_id = $1 AND status = 'running') AS running,
            ARRAY(SELECT id FROM turns WHERE id = ANY($2::text[])) AS stored`,
    [tenant, ids],
  );
  return { running: rows[0]?.running ?? 0, stored: new Set(rows[0]?.stored ?? []) };
}

/**
 * Enforces {@link LimitOptions}. Running turns are counted from Postgres, so every gateway of a fleet (and every
 * TurnClient) sees the same count, plus the turns this process started whose rows are not stored yet; starts of one
 * tenant are serialised within a process, so a burst cannot all pass one stale count. Open streams are counted in
 * memory: a stream is a connection to this process, so that limit is per process (N gateways allow N times it).
 */
export class TenantLimits {
  private readonly streams = new Map<string, number>();
  /** Turns this process started and has not yet seen stored, by tenant: turn id → when started. */
  private readonly pending = new Map<string, Map<string, number>>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: LimitOptions,
  ) {}

  /** `Retry-After` of this gateway's refusals, in seconds (also a start no worker accepted in time: 503). */
  get retryAfterSeconds(): number {
    return this.opts.retryAfterSeconds;
  }

  /** Streams `tenant` holds open on this process. */
  openStreams(tenant: string): number {
    return this.streams.get(tenant) ?? 0;
  }

  /**
   * Takes one of `tenant`'s stream slots; call the returned function (once) when the stream ends.
   * @throws ApiError 429 when the tenant holds {@link LimitOptions.maxOpenStreams} streams.
   */
  openStream(tenant: string): () => void {
    const open = this.openStreams(tenant);
    if (this.opts.maxOpenStreams > 0 && open >= this.opts.maxOpenStreams) {
      throw this.tooMany(`tenant ${tenant} has ${open} open event streams, the most this gateway allows`);
    }
    this.streams.set(tenant, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = this.openStreams(tenant) - 1;
      if (now > 0) this.streams.set(tenant, now);
      else this.streams.delete(tenant);
    };
  }

  /**
   * Runs `start` for `turnId` if `tenant` may start another turn. A turn that exists already (a repeated request
   * attaching to it) is never refused.
   * @throws ApiError 429 when the tenant has {@link LimitOptions.maxRunningTurns} running turns.
   */
  admitTurn<T>(tenant: string, turnId: string, start: () => Promise<T>): Promise<T> {
    if (this.opts.maxRunningTurns <= 0) return start();
    const run = async () => {
      const pending = this.pendingOf(tenant);
      const { running, stored } = await runningTurnsOf(this.pool, tenant, [...pending.keys(), turnId]);
      for (const id of stored) pending.delete(id);
      const attaching = stored.has(turnId) || pending.has(turnId);
      const count = running + pending.size;
      if (!attaching && count >= this.opts.maxRunningTurns) {
        throw this.tooMany(`tenant ${tenant} has ${count} running turns, the most allowed; retry when one ends`);
      }
      const result = await start();
      if (!attaching) pending.set(turnId, Date.now());
      return result;
    };
    // One start at a time per tenant in this process: each sees the count the previous one left.
    const next = (this.queues.get(tenant) ?? Promise.resolve()).then(run, run);
    const settled = next.catch(() => undefined);
    this.queues.set(tenant, settled);
    void settled.then(() => {
      if (this.queues.get(tenant) === settled) this.queues.delete(tenant);
    });
    return next;
  }

  private pendingOf(tenant: string): Map<string, number> {
    let pending = this.pending.get(tenant);
    if (!pending) this.pending.set(tenant, (pending = new Map<string, number>()));
    const expired = Date.now() - (this.opts.pendingMs ?? 60_000);
    for (const [id, at] of pending) if (at < expired) pending.delete(id);
    return pending;
  }

  private tooMany(message: string): ApiError {
    const seconds = String(this.opts.retryAfterSeconds);
    return new ApiError(429, 'too_many_requests', message, { headers: { 'Retry-After': seconds } });
  }
}
