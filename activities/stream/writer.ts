import type { Pool, PoolClient } from 'pg';
import type { PersistenceOptions, TurnEvent, TurnEventBody } from '../../common';
import { cursorAt, encodeAnnouncement, encodeEventRow, EVENTS_CHANNEL, packPayloads } from '../../stream-log';

/** Where one stream writer is in the turn's event stream. */
export interface WriterPosition {
  /** Cursor of the last event this writer announced (0 before the first). */
  cursor: number;
  /** Cursor of the last event known to be stored in Postgres. */
  committedCursor: number;
}

interface PendingRow {
  event: TurnEvent;
  eventKey: string | null;
}

/**
 * Writes one activity attempt's events to a turn's stream log.
 *
 * Every event is announced at once with NOTIFY (payload = the event), so live subscribers never wait for
 * persistence. Text rows are stored in batches bounded by the seed's knobs (`intervalMs`, `minChars`), or
 * once at the end of the hop when `persistDeltas` is off;
 * every other event is stored before it is announced and carries a logical key, so a retried writer that
 * finds it already stored neither stores nor announces it twice.
 *
 * One writer uses one connection for its whole life, so its notifications reach listeners in order.
 */
export class StreamWriter {
  private seq = 0;
  private last: number;
  private committed: number;
  private buffer: PendingRow[] = [];
  private bufferedChars = 0;
  private lastFlush = Date.now();
  private timer: NodeJS.Timeout | undefined;
  /** Every query of this writer runs in order on its one connection (pg does not queue for us). */
  private queue: Promise<unknown> = Promise.resolve();
  /** Announcements not yet handed to the connection. */
  private outbox: string[] = [];
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    private readonly client: PoolClient,
    private readonly turnId: string,
    private readonly hop: number,
    private readonly attempt: number,
    private readonly segmentBase: number,
    lastStored: number,
    private readonly persistence: PersistenceOptions,
  ) {
    this.last = lastStored;
    this.committed = lastStored;
  }

  /** Claims the next cursor segment of the turn and opens a writer on its own connection. */
  static async open(
    pool: Pool,
    opts: { turnId: string; hop: number; attempt: number; persistence: PersistenceOptions },
  ): Promise<StreamWriter> {
    const client = await pool.connect();
    try {
      // Announcements are cheap to lose on a Postgres crash (the next writer re-links the stream), so skip
      // the WAL flush for this session; non-text rows are still committed before they are announced.
      await client.query('SET synchronous_commit = off');
      const { rows } = await client.query<{ segment: number; last: string }>(
        `UPDATE turns SET stream_segment = stream_segment + 1 WHERE id = $1
         RETURNING stream_segment AS segment,
                   (SELECT coalesce(max(cursor), 0) FROM turn_events WHERE turn_id = $1) AS last`,
        [opts.turnId],
      );
      const row = rows[0];
      if (!row) throw new Error(`turn ${opts.turnId} does not exist`);
      return new StreamWriter(
        client,
        opts.turnId,
        opts.hop,
        opts.attempt,
        cursorAt(row.segment, 0),
        Number(row.last),
        opts.persistence,
      );
    } catch (err: unknown) {
      client.release(true);
      throw err;
    }
  }

  /**
   * Runs `fn` on this writer's connection, after everything queued before it. An activity holding a writer
   * must do its other reads and writes here: taking a second pooled connection while holding this one
   * deadlocks once as many writers are open as the pool has connections.
   */
  withConnection<T>(fn: (db: PoolClient) => Promise<T>): Promise<T> {
    return this.serial(() => fn(this.client));
  }

  /** Cursor of the last announced event and of the last stored one (for heartbeats). */
  get position(): WriterPosition {
    return { cursor: this.last, committedCursor: this.committed };
  }

  /**
   * Announces a text delta now and stores it with the next batch. Returns the event; throws if an earlier
   * write of this writer failed.
   */
  text(text: string): TurnEvent {
    this.throwIfFailed();
    const event = this.next({ type: 'text', text });
    this.announce(event);
    this.buffer.push({ event, eventKey: null });
    this.bufferedChars += text.length;
    // With persistDeltas off the hop's text is stored once, when the hop ends (close or next event).
    if (this.persistence.persistDeltas) this.maybeFlush();
    return event;
  }

  /**
   * Stores a non-text event under its logical key, then announces it. Returns the stored event, or `null`
   * when an earlier writer had already stored an event with this key.
   */
  async event(body: Exclude<TurnEventBody, { type: 'text' }>, eventKey: string): Promise<TurnEvent | null> {
    this.throwIfFailed();
    await this.flush();
    const event = this.nextCandidate(body);
    const stored = await this.insert([{ event, eventKey }]);
    if (stored.length === 0) return null;
    this.commitCandidate(event);
    this.announce(event);
    await this.drain();
    return event;
  }

  /** Stores every buffered text row now. */
  async flush(): Promise<void> {
    this.clearTimer();
    // Never store a later batch after an earlier one was lost: the stored stream must stay gap-free.
    this.throwIfFailed();
    const rows = this.buffer;
    if (rows.length === 0) return;
    this.buffer = [];
    this.bufferedChars = 0;
    this.lastFlush = Date.now();
    await this.insert(rows);
    this.throwIfFailed();
  }

  /** Final flush, then gives the connection back. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
      await this.drain();
    } finally {
      this.closed = true;
      this.clearTimer();
      await this.client.query('RESET synchronous_commit').then(
        () => this.client.release(),
        (err: Error) => this.client.release(err),
      );
    }
  }

  /** Gives the connection back without flushing (the attempt is being abandoned). */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimer();
    this.client.release(true);
  }

  private next(body: TurnEventBody): TurnEvent {
    const event = this.nextCandidate(body);
    this.commitCandidate(event);
    return event;
  }

  private nextCandidate(body: TurnEventBody): TurnEvent {
    return {
      ...body,
      turnId: this.turnId,
      cursor: this.segmentBase + this.seq + 1,
      prev: this.last,
      hop: this.hop,
      attempt: this.attempt,
    };
  }

  private commitCandidate(event: TurnEvent): void {
    this.seq += 1;
    this.last = event.cursor;
  }

  private announce(event: TurnEvent): void {
    const { payload, doorbell } = encodeAnnouncement(event);
    // Too big to carry: store it first (text rows are otherwise batched), then ring without a body.
    if (doorbell && event.type === 'text') void this.flush().catch((err: unknown) => this.fail(err));
    this.outbox.push(payload);
    // The first announcement goes out at once; those made while it is on the wire ride together in the next.
    if (this.outbox.length === 1) void this.serial(() => this.sendOutbox()).catch((err: unknown) => this.fail(err));
  }

  private async sendOutbox(): Promise<void> {
    const payloads = this.outbox;
    this.outbox = [];
    for (const batch of packPayloads(payloads)) {
      await this.client.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, batch]);
    }
  }

  private maybeFlush(): void {
    const { intervalMs, minChars } = this.persistence;
    const due = Date.now() - this.lastFlush >= intervalMs || (minChars > 0 && this.bufferedChars >= minChars);
    if (due) {
      void this.flush().catch((err: unknown) => this.fail(err));
    } else if (!this.timer) {
      // A stalled model must not leave text unstored: flush when the interval runs out even without a delta.
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          void this.flush().catch((err: unknown) => this.fail(err));
        },
        Math.max(0, intervalMs - (Date.now() - this.lastFlush)),
      );
      this.timer.unref();
    }
  }

  private async insert(rows: PendingRow[]): Promise<PendingRow[]> {
    const data = rows.map(({ event }) => JSON.stringify(encodeEventRow(event).data));
    const result = await this.serial(() =>
      this.client.query<{ cursor: string }>(
        `INSERT INTO turn_events (turn_id, cursor, prev, hop, attempt, type, data, event_key)
       SELECT $1, u.cursor, u.prev, $2, $3, u.type, u.data, u.event_key
       FROM unnest($4::bigint[], $5::bigint[], $6::text[], $7::jsonb[], $8::text[]) AS u(cursor, prev, type, data, event_key)
       ON CONFLICT DO NOTHING
       RETURNING cursor`,
        [
          this.turnId,
          this.hop,
          this.attempt,
          rows.map((r) => r.event.cursor),
          rows.map((r) => r.event.prev),
          rows.map((r) => r.event.type),
          data,
          rows.map((r) => r.eventKey),
        ],
      ),
    );
    const stored = new Set(result.rows.map((r) => Number(r.cursor)));
    const last = rows.at(-1);
    if (last && stored.has(last.event.cursor)) this.committed = Math.max(this.committed, last.event.cursor);
    return rows.filter((r) => stored.has(r.event.cursor));
  }

  /** Runs `query` after every query queued before it. */
  private serial<T>(query: () => Promise<T>): Promise<T> {
    const run = this.queue.then(query);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Waits for every queued query; throws the first failure. */
  private async drain(): Promise<void> {
    await this.queue;
    this.throwIfFailed();
  }

  private fail(err: unknown): void {
    this.failure ??= err instanceof Error ? err : new Error('stream log write failed', { cause: err });
  }

  private throwIfFailed(): void {
    if (this.failure === undefined) return;
    throw this.failure;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
