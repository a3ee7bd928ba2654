import pg from 'pg';
import type { TurnEvent } from '../common';
import { decodeNotification, EVENTS_CHANNEL } from '../stream-log';

/** What a subscriber hears for its turn. */
export type LiveMessage =
  /** An event, as its writer announced it (it may not be stored yet). */
  | { kind: 'event'; event: TurnEvent }
  /** Something happened that was too big to carry (or unreadable): read the stored stream. */
  | { kind: 'doorbell' }
  /** A worker took the turn (started directly): its row left `queued`. Nothing new to read in its stream. */
  | { kind: 'started' }
  /** The listening connection was lost and is back: events may have been missed, read the stored stream. */
  | { kind: 'resync' };

export type LiveListener = (message: LiveMessage) => void;

/** Options of {@link EventHub}. */
export interface EventHubOptions {
  connectionString: string;
  /** First delay before reconnecting a lost LISTEN connection; doubles up to 5 s. @default 100 */
  reconnectDelayMs?: number;
  onError?: (err: Error) => void;
}

/**
 * One LISTEN connection per process, fanned out to every local subscriber by turn id. If the connection
 * drops it reconnects with backoff and tells every subscriber to resync from the stored stream, so nothing is
 * lost across the gap.
 */
export class EventHub {
  private readonly listeners = new Map<string, Set<LiveListener>>();
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private closed = false;
  private delay: number;

  constructor(private readonly opts: EventHubOptions) {
    this.delay = opts.reconnectDelayMs ?? 100;
  }

  /**
   * Listens for `turnId`'s events. Resolves once the LISTEN connection is up, so an event announced after
   * this resolves is heard. Returns the function that stops listening.
   */
  async subscribe(turnId: string, listener: LiveListener): Promise<() => void> {
    let set = this.listeners.get(turnId);
    if (!set) this.listeners.set(turnId, (set = new Set()));
    set.add(listener);
    const unsubscribe = () => {
      const current = this.listeners.get(turnId);
      current?.delete(listener);
      if (current?.size === 0) this.listeners.delete(turnId);
    };
    try {
      await this.ready();
    } catch (err: unknown) {
      unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  /** Live subscriptions of this hub (over all turns): what a leak test counts. */
  get subscriptionCount(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  /** Stops listening and closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private ready(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the event hub is closed'));
    if (this.client) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.connectionString });
    client.on('notification', (msg) => this.dispatch(msg.payload));
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('the LISTEN connection ended')));
    await client.connect();
    await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    this.client = client;
    this.delay = this.opts.reconnectDelayMs ?? 100;
  }

  private lost(client: pg.Client, err: Error): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    this.opts.onError?.(err);
    client.end().catch(() => undefined);
    const retry = () => {
      if (this.closed) return;
      this.ready().then(
        () => this.broadcast({ kind: 'resync' }),
        (e: unknown) => {
          this.opts.onError?.(e instanceof Error ? e : new Error(String(e)));
          this.delay = Math.min(this.delay * 2, 5_000);
          setTimeout(retry, this.delay).unref();
        },
      );
    };
    setTimeout(retry, this.delay).unref();
  }

  /** Delivers each announcement of a payload (stream-log/notify.ts) to its turn's listeners. */
  private dispatch(payload: string | undefined): void {
    for (const { turnId, event, started } of decodeNotification(payload)) {
      const set = this.listeners.get(turnId);
      if (!set) continue;
      const message: LiveMessage = event
        ? { kind: 'event', event }
        : started
          ? { kind: 'started' }
          : { kind: 'doorbell' };
      for (const listener of set) listener(message);
    }
  }

  private broadcast(message: LiveMessage): void {
    for (const set of this.listeners.values()) for (const listener of set) listener(message);
  }
}
