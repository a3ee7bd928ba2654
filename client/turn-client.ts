import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import type pg from 'pg';
import type { ChatTurnResult, DoubleTextingPolicy, TurnEvent, TurnProgress } from '../common';
import { cancelTurn, turnProgress, type chatTurn, type ConversationTurns } from '../workflows';
import { EventHub } from './event-hub';
import {
  decideApproval,
  listPendingApprovals,
  type ApprovalDecisionRequest,
  type ApprovalOutcome,
  type PendingApprovalView,
} from './approvals';
import type { DailyTokenBudgets } from './budget';
import { CatalogCache } from './catalog';
import {
  cancelInConversation,
  DEFAULT_START_TIMEOUT_MS,
  listConversationTurns,
  startOrderedTurn,
  type OrderedStart,
  type OrderedTurnRequest,
} from './ordered-start';
import { checkCursor } from './cursors';
import { withinDeadline } from './deadline';
import { deleteConversation, listConversations, type ConversationSummary } from './conversations';
import { finalMessageOf, hasTerminalEvent, storedEventsAfter, turnState } from './store';
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
  /** Double-texting policy of requests that name none. @default 'enqueue' */
  doubleTexting?: DoubleTextingPolicy;
  /**
   * How long {@link TurnClient.start} waits for a worker to accept a turn (take its conversation's workflow task, or
   * the turn's own when it starts directly) before it throws `TurnStartTimeoutError`; {@link TurnClient.turns} and
   * {@link TurnClient.cancel} wait as long for the conversation's answer before they throw
   * `ConversationUnavailableError`. @default DEFAULT_START_TIMEOUT_MS (10 s)
   */
  startTimeoutMs?: number;
  /**
   * How long a conversation's workflow that this client starts stays open with nothing running or queued before it
   * completes (its next message starts a new run). @default DEFAULT_CONVERSATION_IDLE_MS (10 minutes)
   */
  conversationIdleMs?: number;
  /**
   * Daily token budgets per tenant (`TURNFLOW_TENANT_DAILY_TOKENS`, parsed with `DailyTokenBudgets`): a start while
   * the tenant's tokens of the UTC day reach its budget throws `BudgetExhaustedError`. @default none
   */
  dailyTokens?: DailyTokenBudgets;
  /**
   * Start an idle conversation's turn directly, without its conversation's workflow (one Temporal crossing instead of
   * three before the model is asked; see `OrderedStartOptions.directStart`). Like any start it answers once a worker
   * has taken the turn, heard on this client's LISTEN connection. `false`: every start goes through the conversation.
   * @default true
   */
  directStart?: boolean;
  /**
   * Ask for eager execution of direct starts: worth it when a worker of `taskQueue` shares this client's
   * `NativeConnection` in this process (its first workflow task then runs here). @default false
   */
  eagerStart?: boolean;
}

/** Thrown by {@link TurnClient.result} for a turn cancelled while it waited: it never ran, so it has no answer. */
export class TurnNeverRanError extends Error {
  override readonly name = 'TurnNeverRanError';

  constructor(readonly turnId: string) {
    super(`turn ${turnId} was cancelled before it started`);
  }
}

/** How often {@link TurnClient.result} looks whether a queued turn has started. */
const QUEUED_POLL_MS = 200;

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
  /** The deadline of a call to a conversation's workflow. */
  private readonly callTimeoutMs: number;

  constructor(private readonly opts: TurnClientOptions) {
    this.hub = new EventHub({ connectionString: opts.databaseUrl });
    this.catalog = new CatalogCache(opts.pool);
    this.callTimeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  }

  /**
   * Starts the turn for (tenantId, conversationId, requestId) in its conversation's order, or attaches to it if it
   * exists (queued, running or finished). While another turn of the conversation runs, `doubleTexting` decides:
   * wait (`enqueue`), refuse (`reject`), stop the running one (`interrupt`), or join it (`steer`; `turnId` is then
   * the running turn's).
   * @throws InvalidTurnRequestError when the request is invalid or names a model or tool the workers do not serve.
   * @throws TurnConflictError when the conversation refuses the turn (`reject` while busy, or a full queue).
   * @throws TurnStartTimeoutError when no worker accepts the turn within `startTimeoutMs`; retrying the same
   *   request attaches to it.
   * @throws BudgetExhaustedError while the tenant is over its daily token budget (`dailyTokens`).
   */
  async start(request: OrderedTurnRequest): Promise<Omit<OrderedStart, 'handle'>> {
    const { handle: _handle, ...started } = await startOrderedTurn(
      {
        temporal: this.opts.temporal,
        pool: this.opts.pool,
        catalog: this.catalog,
        hub: this.hub,
        ...(this.opts.dailyTokens ? { dailyTokens: this.opts.dailyTokens } : {}),
      },
      request,
      {
        ...(this.opts.taskQueue ? { taskQueue: this.opts.taskQueue } : {}),
        ...(this.opts.doubleTexting ? { defaultPolicy: this.opts.doubleTexting } : {}),
        ...(this.opts.startTimeoutMs !== undefined ? { startTimeoutMs: this.opts.startTimeoutMs } : {}),
        ...(this.opts.conversationIdleMs !== undefined
          ? { conversation: { idleMs: this.opts.conversationIdleMs } }
          : {}),
        ...(this.opts.directStart !== undefined ? { directStart: this.opts.directStart } : {}),
        ...(this.opts.eagerStart !== undefined ? { eagerStart: this.opts.eagerStart } : {}),
      },
    );
    return started;
  }

  /**
   * A page of the tenant's conversations, most recent activity first (`after`: the last page's `next`).
   * @throws InvalidPageCursorError for an `after` that is not a `next` of this listing.
   */
  conversations(
    tenantId: string,
    page: { limit?: number; after?: string } = {},
  ): Promise<{ conversations: ConversationSummary[]; next: string | null }> {
    return listConversations(this.opts.pool, tenantId, page);
  }

  /**
   * Deletes the tenant's conversation for good: stops its running turn, drops its queued ones, closes its workflow and
   * deletes its text (messages, stream, tool calls and results, approvals); usage figures stay. `not_found` for a
   * conversation the tenant does not have. Safe to repeat: a deletion cut short is finished by the next call.
   * Afterwards the same id starts a new, empty conversation.
   */
  deleteConversation(tenantId: string, conversationId: string): Promise<'deleted' | 'not_found'> {
    return deleteConversation(this.opts, tenantId, conversationId);
  }

  /**
   * The conversation's running turn and its queued ones, in the order they will run.
   * @throws ConversationStuckError when the conversation's workflow task keeps failing,
   *   ConversationUnavailableError when it did not answer within `startTimeoutMs`.
   */
  turns(tenantId: string, conversationId: string): Promise<ConversationTurns> {
    return listConversationTurns(this.opts.temporal, tenantId, conversationId, this.opts.pool, this.callTimeoutMs);
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

  /** True while the turn waits in its conversation's queue (it has no workflow yet). */
  async isQueued(turnId: string): Promise<boolean> {
    return (await turnState(this.opts.pool, turnId))?.status === 'queued';
  }

  /**
   * Checks that `after` can be a cursor of the turn: `'ended'` when it is the terminal event's, `'open'` when events
   * after it are stored or may still come.
   * @throws CursorOutOfRangeError for a cursor beyond the turn's end or from a segment it never claimed.
   */
  checkCursor(turnId: string, after: number): Promise<'open' | 'ended'> {
    return checkCursor(this.opts.pool, turnId, after);
  }

  /**
   * Stops generating: the partial answer is kept with `finish_reason: cancelled`. A turn still waiting in its
   * conversation's queue is removed from it and never runs.
   * `_reason` is for the caller's own log: a caller's text is never sent to Temporal (design invariant 12).
   * @throws WorkflowNotFoundError when the turn is neither queued nor running; ConversationStuckError or
   *   ConversationUnavailableError (see {@link TurnClient.turns}) when its conversation cannot answer.
   */
  async cancel(turnId: string, _reason?: string): Promise<void> {
    if ((await cancelInConversation(this.opts.temporal, turnId, this.callTimeoutMs)) !== 'unknown') return;
    await this.handle(turnId).signal(cancelTurn, {});
  }

  /**
   * A person's decision on a tool call waiting for approval (`approval_requested` names it). The same decision again
   * answers the one that stands. `tenantId`, when given, scopes the approval to that tenant.
   * @throws ApprovalNotFoundError for an unknown approval (or another tenant's), ApprovalConflictError when another
   *   decision stands, ApprovalExpiredError past its deadline, ApprovalUnavailableError when the turn did not take
   *   it within `startTimeoutMs` (no worker runs it now).
   */
  decideApproval(
    turnId: string,
    approvalId: string,
    decision: ApprovalDecisionRequest & { tenantId?: string },
  ): Promise<ApprovalOutcome> {
    const { tenantId, ...request } = decision;
    return decideApproval(
      { temporal: this.opts.temporal, pool: this.opts.pool, callTimeoutMs: this.callTimeoutMs },
      { tenantId, turnId, approvalId },
      request,
    );
  }

  /** A tenant's tool calls waiting for a person, newest first, a page at a time (`after`: the last page's `next`). */
  pendingApprovals(
    tenantId: string,
    page: { limit?: number; after?: string } = {},
  ): Promise<{ approvals: PendingApprovalView[]; next: string | null }> {
    return listPendingApprovals(this.opts.pool, tenantId, page);
  }

  /**
   * Where a running turn is.
   * @throws CallDeadlineError when the turn did not answer within `startTimeoutMs` (no worker runs it now).
   */
  progress(turnId: string): Promise<TurnProgress> {
    return withinDeadline(this.opts.temporal, this.callTimeoutMs, () => this.handle(turnId).query(turnProgress));
  }

  /**
   * Waits for the turn to finish (and, if it is queued, to start) and returns its stored answer. Throws the turn's
   * failure if it failed, and {@link TurnNeverRanError} if it was cancelled while queued.
   */
  async result(turnId: string): Promise<TurnOutcome> {
    let result: ChatTurnResult;
    for (;;) {
      try {
        result = await this.handle(turnId).result();
        break;
      } catch (err: unknown) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
        // A queued turn has no workflow yet; one cancelled in the queue never will.
        const state = await turnState(this.opts.pool, turnId);
        if (state?.status === 'cancelled') throw new TurnNeverRanError(turnId);
        if (state?.status === 'steered' && state.steeredInto) return this.result(state.steeredInto);
        if (state?.status !== 'queued') throw err;
        await sleep(QUEUED_POLL_MS);
      }
    }
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
