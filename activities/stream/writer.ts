import type { Pool, PoolClient } from 'pg';
import type { PersistenceOptions, TurnEvent, TurnEventBody } from '../../common';
import { cursorAt, encodeAnnouncement, encodeEventRow, packPayloads, rereadAnnouncement } from '../../stream-log';
import { channelFor, type ChannelMember, type WriterChannel } from './channels';

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
 * Writers hold no connection of their own: each is pinned to one of the process's few shared writer channels
 * (`channels.ts`) for its whole life, so its notifications reach listeners in order while the worker's
 * connections stay bounded whatever the number of streams.
 */
export class StreamWriter implements ChannelMember {
  private seq = 0;
  private last: number;
  private committed: number;
  private buffer: PendingRow[] = [];
  private bufferedChars = 0;
  private lastFlush = Date.now();
  private timer: NodeJS.Timeout | undefined;
  /** This writer's last query or announcement on its channel (the channel runs them in order). */
  private queue: Promise<unknown> = Promise.resolve();
  private failure: Error | undefined;
  private closed = false;
  private gaveUp = false;

  private constructor(
    private readonly channel: WriterChannel,
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

  /**
   * Claims the next cursor segment of the turn and opens a writer on the turn's channel of `pool`
   * (`channels` of them per process; `DEFAULT_WRITER_CHANNELS` in channels.ts).
   */
  static async open(
    pool: Pool,
    opts: {
      turnId: string;
      hop: number;
      attempt: number;
      persistence: PersistenceOptions;
      channels?: number | undefined;
    },
  ): Promise<StreamWriter> {
    const { rows } = await pool.query<{ segment: number; last: string }>(
      `UPDATE turns SET stream_segment = stream_segment + 1 WHERE id = $1
       RETURNING stream_segment AS segment,
                 (SELECT coalesce(max(cursor), 0) FROM turn_events WHERE turn_id = $1) AS last`,
      [opts.turnId],
    );
    const row = rows[0];
    if (!row) throw new Error(`turn ${opts.turnId} does not exist`);
    const channel = channelFor(pool, opts.turnId, { count: opts.channels, pack: packPayloads });
    channel.attach();
    return new StreamWriter(
      channel,
      opts.turnId,
      opts.hop,
      opts.attempt,
      cursorAt(row.segment, 0),
      Number(row.last),
      opts.persistence,
    );
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
   * when an earlier writer had already stored an event with this key (its readers are then asked to re-read).
   */
  async event(body: Exclude<TurnEventBody, { type: 'text' }>, eventKey: string): Promise<TurnEvent | null> {
    this.throwIfFailed();
    await this.flush();
    const event = this.nextCandidate(body);
    const stored = await this.insert([{ event, eventKey }]);
    if (stored.length === 0) {
      // An earlier writer stored it, and may have died before announcing it: readers waiting live for it (the turn's
      // `done`, say, after which no writer comes to re-link the stream) are told to read the stored stream.
      this.track(this.channel.announce(rereadAnnouncement(this.turnId), this));
      await this.drain();
      return null;
    }
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

  /** Final flush, then leaves the channel. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
      await this.drain();
    } finally {
      this.closed = true;
      this.clearTimer();
      this.channel.detach();
    }
  }

  /**
   * Leaves the channel without flushing (the attempt is being abandoned): what it queued and did not send yet is
   * dropped, so nothing of this attempt is announced after a later attempt's events on this worker.
   */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    this.gaveUp = true;
    this.clearTimer();
    this.channel.detach();
  }

  /** Whether this writer was abandoned (its channel drops what it still queued). */
  get abandoned(): boolean {
    return this.gaveUp;
  }

  /** Records the first failed write: every later write throws it (a channel reports a failed batch here). */
  fail(err: unknown): void {
    this.failure ??= err instanceof Error ? err : new Error('stream log write failed', { cause: err });
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
    // The first announcement goes out at once; those made while it is on the wire ride together in the next,
    // with other turns' (a failed batch fails this writer through `fail`).
    this.track(this.channel.announce(payload, this));
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
    const result = await this.serial((db) =>
      db.query<{ cursor: string }>(
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

  /** Runs `query` on the channel after everything this writer (and the channel) queued before it. */
  private serial<T>(query: (db: PoolClient) => Promise<T>): Promise<T> {
    const run = this.channel.run((db) => {
      if (this.gaveUp) return Promise.reject(new Error('the stream writer was abandoned'));
      return query(db);
    });
    this.track(run);
    return run;
  }

  /** Adds `work` to what {@link drain} waits for (a send may have been queued on the channel before a query). */
  private track(work: Promise<unknown>): void {
    this.queue = Promise.all([this.queue, work.catch(() => undefined)]);
  }

  /** Waits for every queued query; throws the first failure. */
  private async drain(): Promise<void> {
    await this.queue;
    this.throwIfFailed();
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
