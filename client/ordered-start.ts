import {
  WithStartWorkflowOperation,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import type pg from 'pg';
import { z } from 'zod';
import {
  conversationWorkflowIdFor,
  DoubleTextingPolicy,
  parseTurnId,
  StartTurnRequest,
  TASK_QUEUE,
  searchAttributeKeys as keys,
  turnIdFor,
  type ChatTurnInput,
} from '../common';
import {
  cancelConversationTurn,
  conversationTurns,
  submitTurn,
  type chatTurn,
  type conversation,
  type ConversationInput,
  type ConversationTurns,
  type SubmitTurnResult,
} from '../workflows';
import { claimOrderedTurn, releaseQueuedClaim, startWhileUndeleted } from './access';
import { checkDailyBudget } from './budget';
import { CallDeadlineError, withinDeadline } from './deadline';
import { startDirect, watchTakenByWorker } from './direct-start';
import {
  ConversationDeletingError,
  ConversationStuckError,
  ConversationUnavailableError,
  TurnStartTimeoutError,
} from './errors';
import type { EventHub } from './event-hub';
import { InvalidTurnRequestError, type StartTurnDeps } from './start-turn';

/** A turn request with its double-texting policy (what to do while another turn of the conversation runs). */
export const OrderedTurnRequest = StartTurnRequest.extend({ doubleTexting: DoubleTextingPolicy.optional() });
export type OrderedTurnRequest = z.input<typeof OrderedTurnRequest>;

/**
 * Thrown when the conversation refuses the turn: policy `reject` while `runningTurnId` runs (or waits), a queue
 * already holding `MAX_QUEUED_TURNS` turns, or a deletion of the conversation under way (`deleting`; once it has
 * finished, the same request starts a new conversation). Nothing was started or stored for the request.
 */
export class TurnConflictError extends Error {
  override readonly name = 'TurnConflictError';

  constructor(
    readonly reason: 'busy' | 'queue_full' | 'deleting',
    /** The turn the conversation is busy with (`busy` only). */
    readonly runningTurnId: string | null,
    options?: { cause?: unknown },
  ) {
    super(
      reason === 'busy'
        ? `turn ${runningTurnId} of the conversation is running`
        : reason === 'deleting'
          ? 'the conversation is being deleted'
          : 'the conversation has too many turns waiting',
      options,
    );
  }
}

/** An accepted turn request: where it stands in its conversation. */
export interface OrderedStart {
  /** The turn whose stream carries the answer: the request's own, or the running turn a steered message joined. */
  turnId: string;
  /** The request's own turn id (differs from `turnId` only when steered). */
  requestTurnId: string;
  /** True when the request was accepted before (a retry): nothing new was queued. */
  attached: boolean;
  /** `running`, `queued` (waits behind `runningTurnId`), `steered` (joined `turnId`), or `finished` (a retry). */
  state: SubmitTurnResult['state'] | 'finished';
  /** Turns ahead of it when it was accepted. */
  position: number;
  runningTurnId: string | null;
  handle: WorkflowHandle<typeof chatTurn>;
}

/** What {@link startOrderedTurn} needs. */
export interface OrderedStartDeps extends StartTurnDeps {
  /**
   * The process's LISTEN connection (`TurnClient` passes its own): a direct start hears the moment a worker takes its
   * turn. Without it the start reads the turn's row until then (every 10 ms at first, backing off to 250 ms).
   * @default none
   */
  hub?: EventHub;
}

/** What {@link startOrderedTurn} needs besides {@link OrderedStartDeps}. */
export interface OrderedStartOptions {
  /** @default TASK_QUEUE */
  taskQueue?: string;
  /** Policy of requests that name none. @default 'enqueue' */
  defaultPolicy?: DoubleTextingPolicy;
  /** How a conversation's workflow runs when this start creates it (an idle one completes after `idleMs`). */
  conversation?: Pick<ConversationInput, 'idleMs' | 'maxTurnsPerRun'>;
  /**
   * How long a worker may take to accept the turn (run the first workflow task of the conversation's workflow, or of
   * the turn's own when it starts directly) before the start gives up with {@link TurnStartTimeoutError}.
   * @default DEFAULT_START_TIMEOUT_MS (10 s)
   */
  startTimeoutMs?: number;
  /**
   * Start an idle conversation's turn directly: when the claim finds nothing queued or running in the conversation,
   * the turn's `chatTurn` workflow is started with a plain start instead of through the conversation's workflow (one
   * Temporal crossing instead of three before the model is asked). A later message goes through the conversation,
   * which adopts the running direct turn and starts nothing before it ends. A direct start answers once a worker has
   * taken the turn (its first workflow task moved the turn's row out of `queued`, which happens before the model
   * request), within `startTimeoutMs` like any start. `false` sends every start through the conversation's workflow.
   * @default true
   */
  directStart?: boolean;
  /**
   * Ask for eager execution of a direct start (`requestEagerStart`): with a worker of `taskQueue` on the same
   * `NativeConnection` in this process, the turn's first workflow task runs here without a trip through matching.
   * @default false
   */
  eagerStart?: boolean;
}

/**
 * Default of {@link OrderedStartOptions.startTimeoutMs}: with a worker polling, a start is accepted in tens of
 * milliseconds (seconds under load or while a worker restarts); without one it would wait for ever.
 */
export const DEFAULT_START_TIMEOUT_MS = 10_000;

/**
 * Starts a turn in its conversation's order: the one start function behind `TurnClient.start` and the gateway.
 * The turn is stored under its tenant (as `queued`) first, so it is owned from the moment this returns. A turn of an
 * idle conversation then starts directly (`directStart`, its workflow id is its turn id); any other reaches the
 * conversation's workflow (`conversation/<tenant>/<conversationId>`) by update-with-start with the request id as update
 * id. Either way a retried request attaches to its turn instead of starting or queueing it twice.
 *
 * @throws InvalidTurnRequestError for an invalid request or one naming a model or tool no worker serves.
 * @throws TurnConflictError when the conversation refuses it (policy `reject` while busy, a full queue, or a deletion
 *   under way).
 * @throws TurnStartTimeoutError when no worker accepts it within `startTimeoutMs`; the same request retried later
 *   attaches to it (the workflow id, or the update id, comes from the request id, and the claim stays).
 * @throws ConversationStuckError when the workflow a start reaches first (the conversation's, or a direct turn's own)
 *   has a workflow task that keeps failing.
 * @throws BudgetExhaustedError when the tenant has spent its daily token budget (a retry of an existing turn passes).
 */
export async function startOrderedTurn(
  deps: OrderedStartDeps,
  request: OrderedTurnRequest,
  opts: OrderedStartOptions = {},
): Promise<OrderedStart> {
  const parsed = OrderedTurnRequest.safeParse(request);
  if (!parsed.success) throw new InvalidTurnRequestError(z.prettifyError(parsed.error));
  const { doubleTexting, message, ...turn } = parsed.data;
  const { tenantId, conversationId, requestId } = turn;
  const taskQueue = opts.taskQueue ?? TASK_QUEUE;
  const problem = await deps.catalog?.problem(taskQueue, turn);
  if (problem !== undefined) throw new InvalidTurnRequestError(problem);
  await checkDailyBudget(deps.pool, deps.dailyTokens, tenantId, turnIdFor(tenantId, conversationId, requestId));

  const turnId = turnIdFor(tenantId, conversationId, requestId);
  // Ids, names and numbers only: the message is stored with the turn row, never sent to Temporal.
  const input: ChatTurnInput = { ...turn, turnId };
  const claim = await claimOrderedTurn(
    deps.pool,
    { tenantId, conversationId, requestId, turnId, message },
    // The policy rides along for the conversation's listing (client/ordered-start.ts `listConversationTurns`); the
    // workflow's input is read back through `ChatTurnInput`, which drops it.
    opts.directStart !== false ? { ...input, policy: doubleTexting ?? opts.defaultPolicy ?? 'enqueue' } : null,
  ).catch((err: unknown) => {
    if (err instanceof ConversationDeletingError) throw new TurnConflictError('deleting', null, { cause: err });
    throw err;
  });
  const handleOf = (id: string) => deps.temporal.workflow.getHandle<typeof chatTurn>(id);
  const timeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  if (claim.direct && (claim.status === 'queued' || claim.status === 'running')) {
    // Postgres chose this turn to start directly (or did so for this request before: the start is idempotent).
    const attached = await startDirectUntilTaken(
      deps,
      { ...input, turnId: claim.turnId },
      { taskQueue, eagerStart: opts.eagerStart === true, timeoutMs, waitForWorker: claim.status === 'queued' },
    );
    return {
      turnId: claim.turnId,
      requestTurnId: claim.turnId,
      attached: attached || claim.status !== 'queued',
      state: 'running',
      position: 0,
      runningTurnId: null,
      handle: handleOf(claim.turnId),
    };
  }
  if (claim.status !== 'queued') {
    // Accepted before and past the queue: attach to what it became.
    const turnId = claim.status === 'steered' && claim.steeredInto ? claim.steeredInto : claim.turnId;
    return {
      turnId,
      requestTurnId: claim.turnId,
      attached: true,
      state: claim.status === 'steered' ? 'steered' : claim.status === 'running' ? 'running' : 'finished',
      position: 0,
      runningTurnId: null,
      handle: handleOf(turnId),
    };
  }

  const workflowId = conversationWorkflowIdFor(tenantId, conversationId);
  const start = new WithStartWorkflowOperation<typeof conversation>('conversation', {
    workflowId,
    taskQueue,
    args: [{ tenantId, conversationId, ...opts.conversation }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    typedSearchAttributes: [
      { key: keys.TenantId, value: tenantId },
      { key: keys.ConversationId, value: conversationId },
    ],
    staticSummary: `conversation · ${tenantId} · ${conversationId}`,
  });
  let accepted: SubmitTurnResult;
  try {
    accepted = await withinDeadline(deps.temporal, timeoutMs, () =>
      deps.temporal.workflow.executeUpdateWithStart(submitTurn, {
        args: [
          {
            turn: { ...input, turnId: claim.turnId },
            policy: doubleTexting ?? opts.defaultPolicy ?? 'enqueue',
            ...(claim.adopt !== null ? { after: claim.adopt } : {}),
          },
        ],
        updateId: requestId,
        startWorkflowOperation: start,
      }),
    );
  } catch (err: unknown) {
    // The claim stays: the update may be admitted and run when a worker polls; a retry attaches to it.
    const refusal = refusalOf(err);
    if (!refusal) {
      const failing = await failingWorkflowTaskAttempts(deps.temporal, workflowId);
      if (failing !== undefined) {
        throw new ConversationStuckError(conversationId, workflowId, failing, { cause: err });
      }
      if (err instanceof CallDeadlineError) throw new TurnStartTimeoutError(claim.turnId, timeoutMs, { cause: err });
      throw err;
    }
    await releaseQueuedClaim(deps.pool, claim.turnId);
    if (refusal.type === 'turn.invalid_input') throw new InvalidTurnRequestError(refusal.message, { cause: err });
    throw new TurnConflictError(
      refusal.type === 'conversation.busy' ? 'busy' : 'queue_full',
      typeof refusal.details?.[0] === 'string' ? refusal.details[0] : null,
      { cause: err },
    );
  }
  return { ...accepted, attached: false, handle: handleOf(accepted.turnId) };
}

/**
 * Starts a direct turn and waits, within the start deadline, until a worker has taken it (`waitForWorker`: the claim
 * found it still `queued`), so a start no worker takes fails like one through the conversation instead of answering
 * for a turn that may never run. True when it had been started before (a retry attaches).
 */
async function startDirectUntilTaken(
  deps: OrderedStartDeps,
  input: ChatTurnInput,
  opts: { taskQueue: string; eagerStart: boolean; timeoutMs: number; waitForWorker: boolean },
): Promise<boolean> {
  const deadlineAt = Date.now() + opts.timeoutMs;
  // Listening begins before the start, so the LISTEN connection comes up while Temporal stores the workflow.
  const taken = opts.waitForWorker ? watchTakenByWorker(deps.pool, deps.hub, input.turnId) : undefined;
  try {
    let held: { value: boolean } | undefined;
    try {
      held = await startWhileUndeleted(deps.pool, input.turnId, () =>
        withinDeadline(deps.temporal, opts.timeoutMs, () => startDirect(deps.temporal, input, opts)),
      );
    } catch (err: unknown) {
      // The claim stays with its start input: a retry starts it again, and so does a later message's conversation.
      if (err instanceof CallDeadlineError)
        throw new TurnStartTimeoutError(input.turnId, opts.timeoutMs, { cause: err });
      throw err;
    }
    // A deletion of the conversation began after the claim: it deletes the turn, whose workflow never started.
    if (!held) throw new TurnConflictError('deleting', null);
    const attached = held.value;
    if (taken && !(await taken.until(deadlineAt))) {
      const failing = await failingWorkflowTaskAttempts(deps.temporal, input.turnId);
      if (failing !== undefined) throw new ConversationStuckError(input.conversationId, input.turnId, failing);
      throw new TurnStartTimeoutError(input.turnId, opts.timeoutMs);
    }
    return attached;
  } finally {
    taken?.close();
  }
}

/**
 * `call`, a query or an update of the conversation's workflow, within `timeoutMs`. Either is answered only when a
 * worker runs one of the workflow's tasks: with no worker polling, or a task that keeps failing, it would wait for
 * ever. A workflow that does not exist is the caller's to handle (`WorkflowNotFoundError` passes through).
 * @throws ConversationStuckError when the workflow's task keeps failing
 * @throws ConversationUnavailableError when no answer came in time otherwise
 */
async function callConversation<T>(
  temporal: Client,
  { conversationId, workflowId }: { conversationId: string; workflowId: string },
  timeoutMs: number,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await withinDeadline(temporal, timeoutMs, call);
  } catch (err: unknown) {
    if (err instanceof WorkflowNotFoundError) throw err;
    const failing = await failingWorkflowTaskAttempts(temporal, workflowId);
    if (failing !== undefined) throw new ConversationStuckError(conversationId, workflowId, failing, { cause: err });
    if (err instanceof CallDeadlineError) {
      throw new ConversationUnavailableError(conversationId, workflowId, timeoutMs, { cause: err });
    }
    throw err;
  }
}

/** How long a failed start spends finding out whether the conversation is stuck. */
const DESCRIBE_TIMEOUT_MS = 2_000;

/**
 * The attempt number of the workflow's pending workflow task when that task has failed before (attempt 2 and up:
 * a non-determinism error or another bug in workflow code, retried by Temporal for ever), else `undefined`.
 */
async function failingWorkflowTaskAttempts(temporal: Client, workflowId: string): Promise<number | undefined> {
  try {
    const { raw, status } = await temporal.withDeadline(Date.now() + DESCRIBE_TIMEOUT_MS, () =>
      temporal.workflow.getHandle(workflowId).describe(),
    );
    const attempt = raw.pendingWorkflowTask?.attempt ?? 0;
    return status.name === 'RUNNING' && attempt >= 2 ? attempt : undefined;
  } catch {
    return undefined; // no workflow, or Temporal unreachable: the caller's own error says more
  }
}

/** The conversation's refusal of an update (its validator's failure), if that is what `err` is. */
function refusalOf(err: unknown): ApplicationFailure | undefined {
  if (!(err instanceof WorkflowUpdateFailedError) || !(err.cause instanceof ApplicationFailure)) return undefined;
  const type = err.cause.type;
  return type === 'conversation.busy' || type === 'conversation.queue_full' || type === 'turn.invalid_input'
    ? err.cause
    : undefined;
}

/**
 * What the conversation holds now; empty for a conversation whose workflow never started. With `pool`, a turn started
 * directly that the conversation has not adopted yet (no later message came while it ran) is listed as running.
 */
export async function listConversationTurns(
  temporal: Client,
  tenantId: string,
  conversationId: string,
  pool?: Pick<pg.Pool, 'query'>,
  timeoutMs = DEFAULT_START_TIMEOUT_MS,
): Promise<ConversationTurns> {
  const workflowId = conversationWorkflowIdFor(tenantId, conversationId);
  const handle = temporal.workflow.getHandle<typeof conversation>(workflowId);
  let turns: ConversationTurns;
  try {
    turns = await callConversation(temporal, { conversationId, workflowId }, timeoutMs, () =>
      handle.query(conversationTurns),
    );
  } catch (err: unknown) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    turns = { running: null, queued: [], steering: [] };
  }
  if (turns.running !== null || !pool) return turns;
  const { rows } = await pool.query<{ id: string; request_id: string; policy: string | null; created_at: Date }>(
    `SELECT id, request_id, direct_input->>'policy' AS policy, created_at FROM turns
     WHERE tenant_id = $1 AND conversation_id = $2 AND status IN ('queued', 'running') AND direct_input IS NOT NULL
     LIMIT 1`,
    [tenantId, conversationId],
  );
  const direct = rows[0];
  if (!direct) return turns;
  const policy = DoubleTextingPolicy.safeParse(direct.policy);
  return {
    ...turns,
    running: {
      turnId: direct.id,
      requestId: direct.request_id,
      policy: policy.success ? policy.data : 'enqueue',
      acceptedAt: direct.created_at.toISOString(),
    },
  };
}

/**
 * Cancels a turn through its conversation: a queued turn is removed without running (`dequeued`), a running one
 * stops generating (`running`). `unknown` when the conversation does not hold it (e.g. a turn started directly,
 * or already finished): the caller then signals the turn itself. No reason is taken: no caller text enters Temporal.
 */
export async function cancelInConversation(
  temporal: Client,
  turnId: string,
  timeoutMs = DEFAULT_START_TIMEOUT_MS,
): Promise<'dequeued' | 'running' | 'unknown'> {
  const parts = parseTurnId(turnId);
  if (!parts) return 'unknown';
  const workflowId = conversationWorkflowIdFor(parts.tenantId, parts.conversationId);
  const handle = temporal.workflow.getHandle<typeof conversation>(workflowId);
  try {
    return await callConversation(temporal, { conversationId: parts.conversationId, workflowId }, timeoutMs, () =>
      handle.executeUpdate(cancelConversationTurn, {
        // The turn's id only: a caller's reason is their text, and no caller text is sent to Temporal.
        args: [{ turnId }],
      }),
    );
  } catch (err: unknown) {
    if (err instanceof WorkflowNotFoundError) return 'unknown';
    throw err;
  }
}
