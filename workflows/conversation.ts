import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  getExternalWorkflowHandle,
  log,
  ParentClosePolicy,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
  type ExternalWorkflowHandle,
} from '@temporalio/workflow';
import type { TurnflowActivities } from '../activities';
import type { ChatTurnInput, DoubleTextingPolicy } from '../common';
import {
  checkTurnInput,
  conversationWorkflowIdFor,
  DOUBLE_TEXTING_POLICIES,
  isExternalId,
  parseTurnId,
  turnIdFor,
  turnStartAttributes,
} from '../common/sandbox';
import { supersedeApprovals } from './approvals';
import { chatTurn, cancelTurn } from './chat-turn';
import { steerTurn, steersAccepted, type SteersAcceptedInput } from './conversation-signals';

/** Turns a conversation holds waiting at most; a request past it is refused (`conversation.queue_full`). */
export const MAX_QUEUED_TURNS = 100;
/** Finished requests remembered across continue-as-new, so a late retry attaches instead of queueing twice. */
const REMEMBERED_REQUESTS = 200;

/** Input of {@link conversation}; the state fields carry it across continue-as-new. */
export interface ConversationInput {
  tenantId: string;
  conversationId: string;
  /** Turns started per run before it continues as new (histories stay bounded). @default 100 */
  maxTurnsPerRun?: number;
  /** With nothing running or waiting for this long, the run completes; the next message starts a new one. @default {@link DEFAULT_CONVERSATION_IDLE_MS} */
  idleMs?: number;
  /** Carried over: turns waiting, in the order they were accepted. */
  queue?: QueuedTurn[];
  /** Carried over: sequence number of the last accepted turn. */
  accepted?: number;
  /** Carried over: turns with a sequence number up to this one were interrupted by a later turn. */
  interruptThrough?: number;
  /** Carried over: how recent requests ended up. */
  recent?: { turnId: string; result: SubmitTurnResult }[];
}

/** A turn waiting for its conversation. */
export interface QueuedTurn {
  seq: number;
  input: ChatTurnInput;
  policy: DoubleTextingPolicy;
  /** Epoch milliseconds (workflow time) when the conversation accepted it. */
  acceptedAt: number;
  /**
   * A turn started directly (not by this workflow) that a later request found queued or running: the conversation
   * waits for its end (`awaitDirectTurn`) instead of starting it, and signals it like a turn of its own. Its `input`
   * holds its ids only.
   */
  adopted?: true;
}

/** Input of {@link submitTurn}: a validated turn request and its double-texting policy. */
export interface SubmitTurnInput {
  turn: ChatTurnInput;
  policy: DoubleTextingPolicy;
  /**
   * A turn of this conversation started directly that the caller's claim found still queued or running: it was
   * accepted before this request, so it is adopted (if not known already) and runs out before anything after it.
   */
  after?: string;
}

/** Where a submitted turn stands. */
export interface SubmitTurnResult {
  /** The turn whose stream carries the answer: the request's own, or (steered) the running turn it joined. */
  turnId: string;
  /** The request's own turn id. */
  requestTurnId: string;
  /** `running`: started (or about to); `queued`: waits; `steered`: joined the running turn `turnId`. */
  state: 'running' | 'queued' | 'steered';
  /** Turns ahead of it (0 when running or steered). */
  position: number;
  /** The turn that was running when it was accepted, if any. */
  runningTurnId: string | null;
}

/** A turn as operators and callers see it in the conversation (never its text). */
export interface ConversationTurn {
  turnId: string;
  requestId: string;
  policy: DoubleTextingPolicy;
  /** ISO time the conversation accepted it. */
  acceptedAt: string;
}

/** The running turn and the queued ones, in the order they will run. */
export interface ConversationTurns {
  running: ConversationTurn | null;
  queued: ConversationTurn[];
  /** Requests (policy `steer`) waiting for the running turn's next hop boundary to join it. */
  steering: ConversationTurn[];
}

/** Input of {@link cancelConversationTurn}. */
export interface CancelConversationTurnInput {
  /** At most 600 characters. */
  turnId: string;
  /** Not sent by turnflow's clients (no caller text enters Temporal); at most 1000 characters. */
  reason?: string;
}

/**
 * Accepts a turn of the conversation under its double-texting policy (update id = request id, so a retried request
 * attaches). Refused, before anything is recorded, with `conversation.busy` (details: the running turn's id) for
 * `reject` while another turn runs or waits, and with `conversation.queue_full` past {@link MAX_QUEUED_TURNS}.
 */
export const submitTurn = defineUpdate<SubmitTurnResult, [SubmitTurnInput]>('submitTurn');

/**
 * Cancels a turn of the conversation: a queued one is removed without running (`dequeued`), the running one (or a
 * direct turn it adopted, which runs already wherever it waits) is asked to stop generating (`running`); `unknown`
 * for a turn the conversation does not hold.
 */
export const cancelConversationTurn = defineUpdate<'dequeued' | 'running' | 'unknown', [CancelConversationTurnInput]>(
  'cancelConversationTurn',
);

/** The conversation's running and queued turns. */
export const conversationTurns = defineQuery<ConversationTurns>('conversationTurns');

const { 'turnflow.announceQueued': announceQueued, 'turnflow.dropQueuedTurn': dropQueuedTurn } =
  proxyActivities<TurnflowActivities>({
    startToCloseTimeout: '30 seconds',
    scheduleToCloseTimeout: '15 minutes',
    retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds' },
  });

/**
 * Waits as long as the adopted turn runs (a turn may wait a day for a person's approval); heartbeats, so a lost worker
 * is noticed and the wait resumes on another one, retried without end (the turn's own end is what ends it).
 */
const { 'turnflow.awaitDirectTurn': awaitDirectTurn } = proxyActivities<TurnflowActivities>({
  startToCloseTimeout: '7 days',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds' },
});

/** How long a conversation with nothing running or waiting keeps its workflow open. @default 10 minutes */
export const DEFAULT_CONVERSATION_IDLE_MS = 10 * 60_000;

/** What a caller asked of the conversation; decided by its loop, never by the handler that received it. */
type Request = SubmitRequest | CancelRequest;

interface SubmitRequest {
  kind: 'submit';
  turn: QueuedTurn;
  /** {@link SubmitTurnInput.after}. */
  after?: string;
  outcome?: SubmitTurnResult | ApplicationFailure;
}

interface CancelRequest {
  kind: 'cancel';
  turnId: string;
  /** A failure when the dequeued turn could not be marked dropped. */
  outcome?: 'dequeued' | 'running' | 'unknown' | Error;
}

interface RunningTurn extends QueuedTurn {
  /** Set once its child workflow has started (an adopted turn's: at once, by id). */
  handle?: ChildWorkflowHandle<typeof chatTurn> | ExternalWorkflowHandle;
  /** The start resolved and the loop has not yet acted on it (interrupts, steers and cancels held for the child). */
  startResolved: boolean;
  /** The start failed for a reason other than "started before". */
  startError?: unknown;
  /** The child closed, whichever way (or had been started before, outside this conversation). */
  ended: boolean;
  /** The turn was told it is interrupted (by signal, or in its input). */
  interruptSent: boolean;
  /** A later turn waits behind it: its calls waiting for a person are superseded (`wanted`, then `sent`). */
  supersede: 'no' | 'wanted' | 'sent';
  /** Cancel requests that arrived before the child existed. */
  cancels: CancelRequest[];
}

interface Steering {
  request: SubmitRequest;
  intoTurnId: string;
  /** The steer signal went to the running turn. */
  signalled: boolean;
}

/** A queued turn's `queued` announcement (an activity); the turn starts only after it, so it is its first event. */
interface Announcement {
  done: boolean;
}

/** A cancelled queued turn whose row is being marked dropped. */
interface Drop {
  request: CancelRequest;
  issued: boolean;
  done: boolean;
  error?: Error;
}

/**
 * One conversation's turns, one at a time, in the order they were accepted (the entity pattern: one workflow per
 * `conversation/<tenant>/<conversationId>`, reached by update-with-start). Each turn is its own `chatTurn` child
 * workflow, unchanged: this workflow adds the order only. A turn starts once the one before it has ended, so it
 * stores its user message after every earlier turn's answer and its context is exactly the turns before it.
 * Continues as new between turns, carrying the queue, so its history stays bounded over any number of turns, and
 * completes after `idleMs` with nothing running or waiting (the next message starts a new run).
 *
 * Determinism: handlers and watchers only record what happened; every decision (and so every command) is taken by
 * the loop in {@link reconcile}, after the activation has settled, with what happened to the running turn applied
 * before the requests. The jobs of one activation (an update beside a child's completion, say) arrive in a
 * different order on replay than they did live; decided this way, the commands are the same in either order.
 */
export async function conversation(input: ConversationInput): Promise<void> {
  const { tenantId, conversationId } = checkIdentity(input);
  const maxTurnsPerRun = input.maxTurnsPerRun ?? 100;
  const idleMs = input.idleMs ?? DEFAULT_CONVERSATION_IDLE_MS;
  const queue: QueuedTurn[] = [...(input.queue ?? [])];
  let accepted = input.accepted ?? 0;
  let interruptThrough = input.interruptThrough ?? 0;
  const recent = new Map((input.recent ?? []).map((r) => [r.turnId, r.result]));
  let running: RunningTurn | undefined;
  const inbox: Request[] = [];
  const steering = new Map<string, Steering>();
  const steersTaken: SteersAcceptedInput[] = [];
  const announcements = new Map<string, Announcement>();
  const drops = new Map<string, Drop>();
  let startedThisRun = 0;
  /** Something happened that the loop has not reconciled yet (a carried queue counts). */
  let dirty = true;
  const wake = () => {
    dirty = true;
  };

  const describe = () => {
    const waiting = queue.map((q) => q.input.turnId);
    setCurrentDetails(
      [
        `**running:** ${running ? `${running.input.turnId} (${running.policy})` : 'none'}`,
        `**queued (${waiting.length}):** ${waiting.length > 0 ? waiting.join(', ') : 'none'}`,
      ].join('\n\n'),
    );
  };
  const busyWith = () => running?.input.turnId ?? queue[0]?.input.turnId ?? null;
  const known = (turnId: string): SubmitTurnResult | undefined => {
    if (running?.input.turnId === turnId) return result(turnId, 'running', 0, null);
    const index = queue.findIndex((q) => q.input.turnId === turnId);
    if (index >= 0) return result(turnId, 'queued', index + 1, busyWith());
    return recent.get(turnId);
  };
  const remember = (turnId: string, outcome: SubmitTurnResult) => {
    recent.set(turnId, outcome);
    for (const key of recent.keys()) {
      if (recent.size <= REMEMBERED_REQUESTS) break;
      recent.delete(key);
    }
  };
  const due = () => startedThisRun >= maxTurnsPerRun || workflowInfo().continueAsNewSuggested;
  const idle = () =>
    running === undefined && queue.length === 0 && inbox.length === 0 && steering.size === 0 && drops.size === 0;

  setHandler(
    submitTurn,
    async ({ turn, policy, after }) => {
      const request: SubmitRequest = {
        kind: 'submit',
        turn: { seq: 0, input: turn, policy, acceptedAt: 0 },
        ...(after !== undefined ? { after } : {}),
      };
      inbox.push(request);
      wake();
      await condition(() => request.outcome !== undefined);
      if (request.outcome instanceof ApplicationFailure) throw request.outcome;
      return request.outcome!;
    },
    {
      validator: (raw: unknown) => {
        const { turn, policy, after } = checkSubmitTurnInput(raw);
        const afterParts = after === undefined ? undefined : parseTurnId(after);
        if (
          turn.tenantId !== tenantId ||
          turn.conversationId !== conversationId ||
          turn.turnId !== turnIdFor(tenantId, conversationId, turn.requestId) ||
          (after !== undefined &&
            (afterParts?.tenantId !== tenantId ||
              afterParts.conversationId !== conversationId ||
              after === turn.turnId))
        ) {
          throw ApplicationFailure.nonRetryable('the turn belongs to another conversation', 'turn.invalid_input');
        }
        // A refusal here records nothing. The loop checks again (`refusal`): state seen here can be older than
        // what the same activation brings (a turn that ended beside this update is still running here).
        if (known(turn.turnId)) return;
        const refused = refusal(policy, after);
        if (refused) throw refused;
      },
    },
  );

  setHandler(
    cancelConversationTurn,
    async ({ turnId }) => {
      const request: CancelRequest = { kind: 'cancel', turnId };
      inbox.push(request);
      wake();
      await condition(() => request.outcome !== undefined);
      if (request.outcome instanceof Error) throw request.outcome;
      return request.outcome!;
    },
    {
      validator: (raw: unknown) => {
        if (!isCancelConversationTurnInput(raw)) {
          throw ApplicationFailure.nonRetryable('invalid cancel request', 'turn.invalid_input');
        }
      },
    },
  );

  setHandler(steersAccepted, (taken) => {
    steersTaken.push(taken);
    wake();
  });

  setHandler(conversationTurns, () => ({
    running: running ? summary(running) : null,
    queued: queue.map(summary),
    steering: [...steering.values()].map((s) => summary(s.request.turn)),
  }));

  describe();
  let idleSince: number | undefined;
  for (;;) {
    if (dirty) {
      await settled();
      dirty = false;
      reconcile();
      describe();
    }
    if (running === undefined && inbox.length === 0 && drops.size === 0 && due() && allAnnounced()) {
      // Between turns only: nothing runs, so nothing is lost by starting the next run with the queue.
      await condition(() => allHandlersFinished() || dirty);
      if (dirty) continue;
      await continueAsNew<typeof conversation>({
        tenantId,
        conversationId,
        maxTurnsPerRun,
        idleMs,
        queue,
        accepted,
        interruptThrough,
        recent: [...recent].map(([turnId, r]) => ({ turnId, result: r })),
      });
    }
    if (!idle()) {
      idleSince = undefined;
      await condition(() => dirty);
      continue;
    }
    // Workflow time, not the timer's race with a request: the same decision on replay whatever the order.
    idleSince ??= Date.now();
    const left = idleSince + idleMs - Date.now();
    if (left <= 0) {
      await condition(() => allHandlersFinished() || dirty);
      if (dirty) continue;
      log.info('conversation idle: its workflow completes; the next message starts a new run', { idleMs });
      return;
    }
    await condition(() => dirty, left);
  }

  /** Why the conversation would refuse a request with `policy` now, if it would. */
  function refusal(policy: DoubleTextingPolicy, after?: string): ApplicationFailure | undefined {
    // A direct turn not known here is running as far as the caller's claim saw (one that ended is remembered).
    const ahead = busyWith() ?? (after !== undefined && !known(after) ? after : null);
    if (policy === 'reject' && ahead !== null) {
      return ApplicationFailure.create({
        message: `turn ${ahead} of the conversation is running`,
        type: 'conversation.busy',
        details: [ahead],
        nonRetryable: true,
      });
    }
    if (queue.length >= MAX_QUEUED_TURNS) {
      return ApplicationFailure.nonRetryable(
        `the conversation already has ${MAX_QUEUED_TURNS} turns waiting`,
        'conversation.queue_full',
      );
    }
    return undefined;
  }

  function allAnnounced(): boolean {
    for (const a of announcements.values()) if (!a.done) return false;
    return true;
  }

  /** Every decision of the conversation, taken in one canonical order once the activation has settled. */
  function reconcile(): void {
    // 1. What happened to the running turn comes first, whichever order its jobs arrived in.
    for (const { intoTurnId, turnIds } of steersTaken.splice(0)) {
      for (const turnId of turnIds) {
        const steer = steering.get(turnId);
        if (steer?.intoTurnId !== intoTurnId) continue;
        steering.delete(turnId);
        steer.request.outcome = result(intoTurnId, 'steered', 0, intoTurnId, turnId);
        remember(turnId, steer.request.outcome);
      }
    }
    if (running?.startError !== undefined) fail(running.startError);
    if (running?.startResolved && !running.ended) {
      running.startResolved = false;
      deliverToRunning(running);
    }
    if (running?.ended) finishRunning(running);
    // 2. Requests, in the order they arrived.
    for (const request of inbox.splice(0)) {
      if (request.kind === 'submit') submit(request);
      else cancel(request);
    }
    // 3. Cancelled queued turns: marked dropped once their own announcement is out.
    for (const [turnId, drop] of drops) {
      if (drop.done) {
        drops.delete(turnId);
        drop.request.outcome = drop.error ?? 'dequeued';
      } else if (!drop.issued && announcements.get(turnId)?.done !== false) {
        drop.issued = true;
        announcements.delete(turnId);
        dropQueuedTurn({ turnId })
          .catch((err: unknown) => {
            drop.error = err instanceof Error ? err : new Error(String(err));
          })
          .then(() => {
            drop.done = true;
            wake();
          }, fail);
      }
    }
    // 4. The next turn, when nothing runs and its `queued` announcement (if any) is out.
    const next = queue[0];
    if (running === undefined && next && !due() && announcements.get(next.input.turnId)?.done !== false) {
      queue.shift();
      announcements.delete(next.input.turnId);
      start(next);
    }
  }

  function submit(request: SubmitRequest): void {
    const turnId = request.turn.input.turnId;
    const existing = known(turnId);
    if (existing) {
      request.outcome = existing;
      return;
    }
    const refused = refusal(request.turn.policy, request.after);
    if (refused) {
      request.outcome = refused;
      return;
    }
    if (request.after !== undefined) adopt(request.after);
    const turn: QueuedTurn = { ...request.turn, seq: ++accepted, acceptedAt: Date.now() };
    if (turn.policy === 'interrupt') {
      // Every turn accepted before it is stopped: the running one now, waiting ones as they start (at once).
      interruptThrough = turn.seq - 1;
      if (running) deliverToRunning(running);
    }
    if (turn.policy === 'steer' && running && queue.length === 0) {
      // Joining the running turn keeps the accepted order only if nothing waits between the two.
      // The handler waits on this request: its outcome is set when the turn takes the message, or queues it.
      request.turn = turn;
      steering.set(turnId, { request, intoTurnId: running.input.turnId, signalled: false });
      deliverToRunning(running);
      return;
    }
    request.outcome = enqueue(turn);
    // An interrupt stops the running turn anyway (its waiting calls are denied `superseded` by that).
    if (running && turn.policy !== 'interrupt') supersedeRunning(running);
  }

  /**
   * A turn started directly, accepted before the request that names it: it goes ahead of every turn waiting (none
   * was waiting when it was started, as its claim saw), or runs now if nothing does.
   */
  function adopt(turnId: string): void {
    if (known(turnId)) return;
    const parts = parseTurnId(turnId)!;
    const turn: QueuedTurn = {
      seq: ++accepted,
      // Its ids only: it is never started from here (its own start input is stored with its row).
      input: { ...parts, turnId } as ChatTurnInput,
      policy: 'enqueue',
      acceptedAt: Date.now(),
      adopted: true,
    };
    if (running === undefined && queue.length === 0 && !due()) start(turn);
    else queue.unshift(turn);
  }

  /** A message queued behind the running turn: nobody is left to decide the turn's calls waiting for a person. */
  function supersedeRunning(turn: RunningTurn): void {
    if (turn.supersede !== 'no') return;
    turn.supersede = 'wanted';
    deliverToRunning(turn);
  }

  function cancel(request: CancelRequest): void {
    const index = queue.findIndex((q) => q.input.turnId === request.turnId);
    if (queue[index]?.adopted) {
      // An adopted direct turn runs already, whatever its place here (it waits only for the conversation to see the
      // end of the turn before it, or to continue as new): it is told to stop, and keeps its place, so the turns
      // after it still wait for its end. Dropped, it would run on unordered under a terminal event it never sent.
      getExternalWorkflowHandle(request.turnId)
        .signal(cancelTurn, { reason: 'cancelled by the caller' })
        .catch(ignoreClosed);
      request.outcome = 'running';
      return;
    }
    if (index >= 0) {
      queue.splice(index, 1);
      drops.set(request.turnId, { request, issued: false, done: false });
      return;
    }
    if (running?.input.turnId !== request.turnId) {
      request.outcome = 'unknown';
      return;
    }
    running.cancels.push(request);
    deliverToRunning(running);
  }

  function enqueue(turn: QueuedTurn): SubmitTurnResult {
    // In acceptance order: a steered message that fell back goes before turns accepted after it.
    const at = queue.findIndex((q) => q.seq > turn.seq);
    if (at < 0) queue.push(turn);
    else queue.splice(at, 0, turn);
    const position = queue.indexOf(turn) + 1;
    const turnId = turn.input.turnId;
    if (running === undefined && position === 1) return result(turnId, 'running', 0, null);
    const ahead = busyWith();
    const announcement: Announcement = { done: false };
    announcements.set(turnId, announcement);
    announceQueued({ turnId, position, runningTurnId: ahead })
      .catch((err: unknown) => {
        log.warn('could not announce a queued turn', { turnId, err: String(err) });
      })
      .then(() => {
        announcement.done = true;
        wake();
      }, fail);
    return result(turnId, 'queued', position, ahead);
  }

  /** Interrupts, steered messages and cancels for the running turn: sent once its child exists. */
  function deliverToRunning(turn: RunningTurn): void {
    const handle = turn.handle;
    if (!handle) return;
    if (turn.seq <= interruptThrough && !turn.interruptSent) {
      turn.interruptSent = true;
      handle.signal(cancelTurn, { interrupt: true, reason: 'a later turn interrupted it' }).catch(ignoreClosed);
    }
    if (turn.supersede === 'wanted') {
      turn.supersede = 'sent';
      handle.signal(supersedeApprovals).catch(ignoreClosed);
    }
    for (const [steeredId, steer] of steering) {
      if (steer.intoTurnId !== turn.input.turnId || steer.signalled) continue;
      steer.signalled = true;
      handle.signal(steerTurn, { turnId: steeredId }).catch(ignoreClosed);
    }
    for (const request of turn.cancels.splice(0)) {
      handle.signal(cancelTurn, { reason: 'cancelled by the caller' }).catch(ignoreClosed);
      request.outcome = 'running';
    }
  }

  function finishRunning(turn: RunningTurn): void {
    running = undefined;
    const turnId = turn.input.turnId;
    for (const request of turn.cancels.splice(0)) request.outcome = 'unknown';
    // Messages steered into it that it had no boundary left to take become turns of their own, in order.
    for (const [steeredId, steer] of steering) {
      if (steer.intoTurnId !== turnId) continue;
      steering.delete(steeredId);
      steer.request.outcome = enqueue(steer.request.turn);
    }
    remember(turnId, result(turnId, 'running', 0, null));
    startedThisRun += 1;
  }

  function start(next: QueuedTurn): void {
    const turn: RunningTurn = {
      ...next,
      startResolved: false,
      ended: false,
      interruptSent: false,
      // Turns already wait behind it: its calls never wait for a person.
      supersede: queue.length > 0 ? 'wanted' : 'no',
      cancels: [],
    };
    running = turn;
    const turnId = next.input.turnId;
    if (next.adopted) {
      // Started already, directly: signalled by id, and its end awaited by an activity (it is not our child).
      turn.handle = getExternalWorkflowHandle(turnId);
      deliverToRunning(turn);
      awaitDirectTurn({ turnId }).then(
        () => ended(turn),
        (err: unknown) => {
          log.warn('could not follow a direct turn of the conversation to its end', { turnId, err: String(err) });
          ended(turn);
        },
      );
      return;
    }
    const interrupted = next.seq <= interruptThrough;
    turn.interruptSent = interrupted;
    startChild(chatTurn, {
      workflowId: turnId,
      args: [interrupted ? { ...next.input, interrupted: true } : next.input],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      // An operator closing the conversation must not cut an answer short: the turn finishes on its own.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: turnStartAttributes(next.input),
      staticSummary: `turn #${next.seq} · ${next.policy} · ${tenantId} · ${conversationId}`,
    }).then(
      (handle) => {
        turn.handle = handle;
        turn.startResolved = true;
        wake();
        handle.result().then(
          () => ended(turn),
          (err: unknown) => {
            // A failed turn announced its failure on its own stream; the conversation goes on with the next one.
            log.warn('a turn of the conversation failed', { turnId, err: String(err) });
            ended(turn);
          },
        );
      },
      (err: unknown) => {
        // Started before (e.g. directly, not through the conversation): it is not run a second time.
        if (err instanceof WorkflowExecutionAlreadyStartedError) ended(turn);
        else turn.startError = err;
        wake();
      },
    );
  }

  function ended(turn: RunningTurn): void {
    turn.ended = true;
    wake();
  }
}

/**
 * Resolves once the current activation has settled: every job applied and every promise reaction it caused run.
 * A condition is checked as it is made and again after the microtasks of the activation have drained; this one
 * holds only on that second check.
 */
function settled(): Promise<void> {
  let checked = false;
  return condition(() => {
    if (checked) return true;
    checked = true;
    return false;
  });
}

/** A bug in a watcher (they only record): rethrown, so it fails the workflow task loudly instead of hiding. */
function fail(err: unknown): never {
  throw err instanceof Error ? err : new Error(String(err));
}

/** A signal to a turn that has just closed: nothing to deliver any more (its end is handled by `runTurn`). */
function ignoreClosed(): void {}

function result(
  turnId: string,
  state: SubmitTurnResult['state'],
  position: number,
  runningTurnId: string | null,
  requestTurnId = turnId,
): SubmitTurnResult {
  return { turnId, requestTurnId, state, position, runningTurnId };
}

function summary(turn: QueuedTurn): ConversationTurn {
  return {
    turnId: turn.input.turnId,
    requestId: turn.input.requestId,
    policy: turn.policy,
    acceptedAt: new Date(turn.acceptedAt).toISOString(),
  };
}

function checkIdentity(input: ConversationInput): { tenantId: string; conversationId: string } {
  const { tenantId, conversationId } = input;
  if (
    !isExternalId(tenantId) ||
    !isExternalId(conversationId) ||
    workflowInfo().workflowId !== conversationWorkflowIdFor(tenantId, conversationId)
  ) {
    throw ApplicationFailure.nonRetryable(
      "a conversation's workflow id must be conversation/<tenantId>/<conversationId>",
      'conversation.invalid_input',
    );
  }
  return { tenantId, conversationId };
}

/** `raw` as a {@link SubmitTurnInput}; a refusal (`turn.invalid_input`) naming the problem otherwise. */
function checkSubmitTurnInput(raw: unknown): SubmitTurnInput {
  const { turn, policy, after } = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<
    Record<string, unknown>
  >;
  const checked = checkTurnInput(turn);
  if ('problem' in checked)
    throw ApplicationFailure.nonRetryable(`invalid turn: ${checked.problem}`, 'turn.invalid_input');
  if (!(DOUBLE_TEXTING_POLICIES as readonly unknown[]).includes(policy)) {
    throw ApplicationFailure.nonRetryable(
      `invalid turn: policy must be one of ${DOUBLE_TEXTING_POLICIES.join(', ')}`,
      'turn.invalid_input',
    );
  }
  if (after !== undefined && (typeof after !== 'string' || after.length < 1 || after.length > 600)) {
    throw ApplicationFailure.nonRetryable('invalid turn: after must be a turn id', 'turn.invalid_input');
  }
  return { turn: checked.input, policy: policy as DoubleTextingPolicy, ...(after !== undefined ? { after } : {}) };
}

function isCancelConversationTurnInput(raw: unknown): raw is CancelConversationTurnInput {
  if (typeof raw !== 'object' || raw === null) return false;
  const { turnId, reason } = raw as Partial<Record<string, unknown>>;
  return (
    typeof turnId === 'string' &&
    turnId.length >= 1 &&
    turnId.length <= 600 &&
    (reason === undefined || (typeof reason === 'string' && reason.length <= 1_000))
  );
}
