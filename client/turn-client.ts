import type { Client } from '@temporalio/client';
import type pg from 'pg';
import type { ChatTurnResult, StartTurnRequest, TurnEvent, TurnProgress } from '../common';
import { cancelTurn, turnProgress, type chatTurn } from '../workflows';
import { EventHub } from './event-hub';
import { CatalogCache } from './catalog';
import { startTurn } from './start-turn';
import { checkCursor } from './cursors';
import { finalMessageOf, hasTerminalEvent, storedEventsAfter } from './store';
import { turnEvents, type TurnEventsOptions } from './turn-events';

/** Options of {@link TurnClient}. */
export interface TurnClientOptions {
  temporal: Client;
  /** Pool on the turnflow database (events and messages are read from it). */
  pool: pg.Pool;
  /** Connection string of the same database, for the process's one LISTEN connection. */
  databaseUrl: string;
  /** @default TASK_QUEUE */
  taskQueue?: string;
}

/** A finished turn with its stored answer. */
export interface TurnOutcome extends ChatTurnResult {
  content: string;
}

/**
 * What a backend service needs to run turns: start one (idempotently), follow its events live from any cursor,
 * stop it, and get its stored answer. One instance per process; it owns one LISTEN connection.
 */
export class TurnClient {
  private readonly hub: EventHub;
  private readonly catalog: CatalogCache;

  constructor(private readonly opts: TurnClientOptions) {
    this.hub = new EventHub({ connectionString: opts.databaseUrl });
    this.catalog = new CatalogCache(opts.pool);
  }

  /**
   * Starts the turn for (tenantId, conversationId, requestId), or attaches to it if it exists (running or
   * finished).
   * @throws InvalidTurnRequestError when the request is invalid or names a model or tool the workers do not serve.
   */
  async start(request: StartTurnRequest): Promise<{ turnId: string; attached: boolean }> {
    const { turnId, attached } = await startTurn(
      { temporal: this.opts.temporal, pool: this.opts.pool, catalog: this.catalog },
      request,
      this.opts.taskQueue ? { taskQueue: this.opts.taskQueue } : {},
    );
    return { turnId, attached };
  }

  /**
   * The turn's events after `after` (default: from the start), live, without gaps or duplicates, ending with
   * `done` or `error`. Applying them in order with {@link AnswerAssembler} gives exactly the stored answer.
   */
  events(turnId: string, opts: TurnEventsOptions = {}): AsyncGenerator<TurnEvent, void, undefined> {
    return turnEvents(this.opts.pool, this.hub, turnId, opts);
  }

  /**
   * One page of the turn's stored events after `after` (at most `STORED_EVENTS_PAGE`; a full page means more
   * may follow), without waiting for live ones: what a reader flushes once the turn's workflow has closed.
   */
  storedEvents(turnId: string, after: number): Promise<TurnEvent[]> {
    return storedEventsAfter(this.opts.pool, turnId, after);
  }

  /** True once the turn's terminal event (`done` or `error`) is stored. */
  hasEnded(turnId: string): Promise<boolean> {
    return hasTerminalEvent(this.opts.pool, turnId);
  }

  /**
   * Checks that `after` can be a cursor of the turn: `'ended'` when it is the terminal event's, `'open'` when events
   * after it are stored or may still come.
   * @throws CursorOutOfRangeError for a cursor beyond the turn's end or from a segment it never claimed.
   */
  checkCursor(turnId: string, after: number): Promise<'open' | 'ended'> {
    return checkCursor(this.opts.pool, turnId, after);
  }

  /** Stops generating: the partial answer is kept with `finish_reason: cancelled`. */
  async cancel(turnId: string, reason?: string): Promise<void> {
    await this.handle(turnId).signal(cancelTurn, reason === undefined ? {} : { reason });
  }

  /** Where a running turn is. */
  progress(turnId: string): Promise<TurnProgress> {
    return this.handle(turnId).query(turnProgress);
  }

  /** Waits for the turn to finish and returns its stored answer. Throws the turn's failure if it failed. */
  async result(turnId: string): Promise<TurnOutcome> {
    const result = await this.handle(turnId).result();
    const message = await finalMessageOf(this.opts.pool, turnId);
    if (!message) throw new Error(`turn ${turnId} finished without a stored answer`);
    return { ...result, content: message.content };
  }

  /** Event readers of this client that are subscribed right now (each open `events()` iteration holds one). */
  get liveSubscriptions(): number {
    return this.hub.subscriptionCount;
  }

  /** Closes the LISTEN connection (the Temporal client and the pool belong to the caller). */
  async close(): Promise<void> {
    await this.hub.close();
  }

  private handle(turnId: string) {
    return this.opts.temporal.workflow.getHandle<typeof chatTurn>(turnId);
  }
}
