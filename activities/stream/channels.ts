import type { Pool, PoolClient } from 'pg';
import { EVENTS_CHANNEL } from '../../stream-log';

/**
 * How many connections a process's stream writers share by default. Every writer of the process is pinned to one
 * of them, so the number of Postgres connections a worker holds for streaming is bounded by this, not by the
 * number of streams. @default 4
 */
export const DEFAULT_WRITER_CHANNELS = 4;

/** A party whose announcements ride in a channel's batches; told when a batch carrying them failed. */
export interface ChannelMember {
  /** The member gave up: its announcements not yet sent are dropped, its queued queries skipped. */
  readonly abandoned: boolean;
  fail(err: unknown): void;
}

/**
 * One connection shared by many stream writers. Everything it runs is serial, in the order it was asked for, so a
 * writer's notifications reach listeners in order. Announcements made while a query is on the wire ride together
 * in the next one, whichever turn made them: at many streams, one round trip carries many deltas.
 *
 * The connection is borrowed from the pool while at least one writer is open on the channel and given back (with
 * `synchronous_commit` reset) when the last one closes, so the pool's limit bounds it and an idle worker holds none.
 */
export class WriterChannel {
  private client: Promise<PoolClient> | undefined;
  private open = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private outbox: { payload: string; member: ChannelMember }[] = [];
  /** The queued send that announcements made now will ride in. */
  private pendingSend: Promise<void> | undefined;

  /** @param pack packs payloads into as few NOTIFY payloads as fit (the stream log's format owns how). */
  constructor(
    private readonly pool: Pool,
    private readonly pack: (payloads: string[]) => string[],
  ) {}

  /** A writer starts using the channel. */
  attach(): void {
    this.open += 1;
  }

  /** A writer is done with the channel; the last one out gives the connection back once its queries ran. */
  detach(): void {
    this.open -= 1;
    if (this.open > 0) return;
    this.queue = this.queue
      .then(async () => {
        if (this.open > 0 || !this.client) return;
        const client = this.client;
        this.client = undefined;
        const db = await client.catch(() => undefined);
        if (!db) return;
        await db.query('RESET synchronous_commit').then(
          () => db.release(),
          (err: Error) => db.release(err),
        );
      })
      .catch(() => undefined);
  }

  /** Runs `fn` on the channel's connection after everything asked before it. */
  run<T>(fn: (db: PoolClient) => Promise<T>): Promise<T> {
    return this.enqueue(() => this.exec(fn));
  }

  /** Runs `step` after everything asked before it. */
  private enqueue<T>(step: () => Promise<T>): Promise<T> {
    const next = this.queue.then(step);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Runs `fn` on the connection, taking one first if the channel has none. */
  private async exec<T>(fn: (db: PoolClient) => Promise<T>): Promise<T> {
    const db = await this.connection();
    try {
      return await fn(db);
    } catch (err: unknown) {
      // A broken connection is not given back to the pool for the next writer: take a fresh one.
      if (isConnectionError(err)) this.discard(db, err);
      throw err;
    }
  }

  /**
   * Queues a notification. The first one goes out at once; those queued while it is on the wire, from any writer,
   * ride together in the next query. Resolves when the batch carrying it was sent; a failed batch fails each of
   * its members instead.
   */
  announce(payload: string, member: ChannelMember): Promise<void> {
    this.outbox.push({ payload, member });
    if (this.outbox.length > 1) return this.pendingSend!;
    this.pendingSend = this.enqueue(async () => {
      // Taken before the connection: a batch that cannot even get one fails its members like one that broke.
      const batch = this.outbox.filter((m) => !m.member.abandoned);
      this.outbox = [];
      this.pendingSend = undefined;
      if (batch.length === 0) return;
      try {
        // unnest keeps the array's order, so one statement sends every packed payload in turn.
        await this.exec((db) =>
          db.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [
            EVENTS_CHANNEL,
            this.pack(batch.map((m) => m.payload)),
          ]),
        );
      } catch (err: unknown) {
        for (const m of new Set(batch.map((b) => b.member))) m.fail(err);
        throw err;
      }
    }).catch(() => undefined);
    return this.pendingSend;
  }

  private connection(): Promise<PoolClient> {
    this.client ??= this.pool.connect().then(
      async (db) => {
        // Announcements are cheap to lose on a Postgres crash (the next writer re-links the stream), so skip the
        // WAL flush on this connection; non-text rows are still committed before they are announced.
        await db.query('SET synchronous_commit = off').catch((err: unknown) => {
          db.release(true);
          throw err;
        });
        return db;
      },
      (err: unknown) => {
        this.client = undefined;
        throw err;
      },
    );
    const client = this.client;
    client.catch(() => {
      if (this.client === client) this.client = undefined;
    });
    return client;
  }

  private discard(db: PoolClient, err: unknown): void {
    this.client = undefined;
    db.release(err instanceof Error ? err : true);
  }
}

/** Errors of the connection itself (not of one statement): the connection cannot be used again. */
function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return true;
  const code = (err as { code?: unknown }).code;
  // A statement error carries a SQLSTATE; a socket error or "Connection terminated" does not (or is class 08/57P).
  return typeof code !== 'string' || /^(08|57P)/.test(code) || !/^[0-9A-Z]{5}$/.test(code);
}

/** How a pool's channels are made: the first writer of a pool in the process decides. */
export interface ChannelOptions {
  /** @default DEFAULT_WRITER_CHANNELS */
  count?: number | undefined;
  pack: (payloads: string[]) => string[];
}

const channelsByPool = new WeakMap<Pool, WriterChannel[]>();

/**
 * The writer channels of `pool` in this process (made on first use). `count` is capped to leave the pool two
 * connections for everything else, so writers can never take every connection an activity needs.
 */
export function writerChannels(pool: Pool, opts: ChannelOptions): WriterChannel[] {
  let channels = channelsByPool.get(pool);
  if (!channels) {
    const max = (pool.options as { max?: number }).max ?? 10;
    const n = Math.max(1, Math.min(opts.count ?? DEFAULT_WRITER_CHANNELS, max - 2));
    channels = Array.from({ length: n }, () => new WriterChannel(pool, opts.pack));
    channelsByPool.set(pool, channels);
  }
  return channels;
}

/** The channel a turn's writers use in this process: always the same one, so even two attempts stay in order. */
export function channelFor(pool: Pool, turnId: string, opts: ChannelOptions): WriterChannel {
  const channels = writerChannels(pool, opts);
  let h = 0;
  for (let i = 0; i < turnId.length; i += 1) h = (Math.imul(h, 31) + turnId.charCodeAt(i)) | 0;
  return channels[Math.abs(h) % channels.length]!;
}
