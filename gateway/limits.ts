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
   * How long a turn this process started counts as running while its row is not stored yet (the turn's first
   * LLM activity writes it, possibly seconds later under load; a turn that never gets a row stops counting).
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

/** A start this process admitted (or is admitting) whose turn row it has not yet seen stored. */
interface PendingStart {
  /** When it was admitted (epoch ms). */
  at: number;
  /** Admission order within the process: a start counts only the starts admitted before it. */
  seq: number;
}

/**
 * Enforces {@link LimitOptions}. Running turns are counted from Postgres, so every gateway of a fleet (and every
 * TurnClient) sees the same count, plus the turns this process admitted whose rows are not stored yet. Starts of one
 * tenant run concurrently: each takes a numbered reservation before it counts, and counts the reservations made
 * before its own, so a burst cannot all pass one stale count (the first `maxRunningTurns` pass, the rest are
 * refused) while no start waits for another's round trip to Temporal. Open streams are counted in memory: a stream
 * is a connection to this process, so that limit is per process (N gateways allow N times it).
 */
export class TenantLimits {
  private readonly streams = new Map<string, number>();
  /** Starts this process admitted and has not yet seen stored, by tenant: turn id → reservation. */
  private readonly pending = new Map<string, Map<string, PendingStart>>();
  private seq = 0;

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

  /** Calls `fn` with each tenant holding open streams on this process (for the open-streams gauge). */
  forEachOpenStreams(fn: (tenant: string, streams: number) => void): void {
    for (const [tenant, streams] of this.streams) fn(tenant, streams);
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
   * attaching to it, or one this process is starting) is never refused.
   * @throws ApiError 429 when the tenant has {@link LimitOptions.maxRunningTurns} running turns.
   */
  async admitTurn<T>(tenant: string, turnId: string, start: () => Promise<T>): Promise<T> {
    if (this.opts.maxRunningTurns <= 0) return start();
    const pending = this.pendingOf(tenant);
    if (pending.has(turnId)) return start();
    // Taken before the first await: every start admitted after this one counts it.
    const mine: PendingStart = { at: Date.now(), seq: ++this.seq };
    pending.set(turnId, mine);
    try {
      const { running, stored } = await runningTurnsOf(this.pool, tenant, [...pending.keys()]);
      for (const id of stored) if (id !== turnId) pending.delete(id);
      const attaching = stored.has(turnId);
      const ahead = [...pending.values()].filter((p) => p.seq < mine.seq).length;
      const count = running + ahead;
      if (!attaching && count >= this.opts.maxRunningTurns) {
        throw this.tooMany(`tenant ${tenant} has ${count} running turns, the most allowed; retry when one ends`);
      }
      const result = await start();
      if (attaching) pending.delete(turnId);
      return result;
    } catch (err: unknown) {
      if (pending.get(turnId) === mine) pending.delete(turnId);
      throw err;
    }
  }

  private pendingOf(tenant: string): Map<string, PendingStart> {
    let pending = this.pending.get(tenant);
    if (!pending) this.pending.set(tenant, (pending = new Map<string, PendingStart>()));
    const expired = Date.now() - (this.opts.pendingMs ?? 60_000);
    for (const [id, p] of pending) if (p.at < expired) pending.delete(id);
    return pending;
  }

  private tooMany(message: string): ApiError {
    const seconds = String(this.opts.retryAfterSeconds);
    return new ApiError(429, 'too_many_requests', message, { headers: { 'Retry-After': seconds } });
  }
}
