import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  log,
  ParentClosePolicy,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { z } from 'zod';
import type { TurnflowActivities } from '../activities';
import {
  ChatTurnInput,
  conversationWorkflowIdFor,
  DoubleTextingPolicy,
  ExternalId,
  searchAttributeKeys as keys,
  turnIdFor,
} from '../common';
import { chatTurn, cancelTurn } from './chat-turn';
import { steerTurn, steersAccepted } from './conversation-signals';

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
}

/** Input of {@link submitTurn}: a validated turn request and its double-texting policy. */
export const SubmitTurnInput = z.object({ turn: ChatTurnInput, policy: DoubleTextingPolicy });
export type SubmitTurnInput = z.infer<typeof SubmitTurnInput>;

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
export const CancelConversationTurnInput = z.object({
  turnId: z.string().min(1).max(600),
  reason: z.string().max(1_000).optional(),
});
export type CancelConversationTurnInput = z.infer<typeof CancelConversationTurnInput>;

/**
 * Accepts a turn of the conversation under its double-texting policy (update id = request id, so a retried request
 * attaches). Refused, before anything is recorded, with `conversation.busy` (details: the running turn's id) for
 * `reject` while another turn runs or waits, and with `conversation.queue_full` past {@link MAX_QUEUED_TURNS}.
 */
export const submitTurn = defineUpdate<SubmitTurnResult, [SubmitTurnInput]>('submitTurn');

/**
 * Cancels a turn of the conversation: a queued one is removed without running (`dequeued`), the running one is
 * asked to stop generating (`running`); `unknown` for a turn the conversation does not hold.
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

interface RunningTurn extends QueuedTurn {
  handle?: ChildWorkflowHandle<typeof chatTurn>;
  /** The turn was told it is interrupted (by signal, or in its input). */
  interruptSent: boolean;
}

interface Steering {
  turn: QueuedTurn;
  intoTurnId: string;
  outcome?: SubmitTurnResult;
}

/**
 * One conversation's turns, one at a time, in the order they were accepted (the entity pattern: one workflow per
 * `conversation/<tenant>/<conversationId>`, reached by update-with-start). Each turn is its own `chatTurn` child
 * workflow, unchanged: this workflow adds the order only. A turn starts once the one before it has ended, so it
 * stores its user message after every earlier turn's answer and its context is exactly the turns before it.
 * Continues as new between turns, carrying the queue, so its history stays bounded over any number of turns.
 */
export async function conversation(input: ConversationInput): Promise<void> {
  const { tenantId, conversationId } = checkIdentity(input);
  const maxTurnsPerRun = input.maxTurnsPerRun ?? 100;
  const queue: QueuedTurn[] = [...(input.queue ?? [])];
  let accepted = input.accepted ?? 0;
  let interruptThrough = input.interruptThrough ?? 0;
  const recent = new Map((input.recent ?? []).map((r) => [r.turnId, r.result]));
  let running: RunningTurn | undefined;
  const steering = new Map<string, Steering>();
  /** Queued announcements in flight: a turn starts only after its own, so `queued` is its first event. */
  const announcements = new Map<string, Promise<void>>();
  let startedThisRun = 0;

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
    if (running?.input.turnId === turnId) return result(running.input.turnId, 'running', 0, null);
    const index = queue.findIndex((q) => q.input.turnId === turnId);
    if (index >= 0) return result(turnId, 'queued', index + 1, busyWith());
    return steering.get(turnId)?.outcome ?? recent.get(turnId);
  };
  const remember = (turnId: string, outcome: SubmitTurnResult) => {
    recent.set(turnId, outcome);
    for (const key of recent.keys()) {
      if (recent.size <= REMEMBERED_REQUESTS) break;
      recent.delete(key);
    }
  };
  const enqueue = (turn: QueuedTurn): SubmitTurnResult => {
    // In acceptance order: a steered message that fell back goes before turns accepted after it.
    const at = queue.findIndex((q) => q.seq > turn.seq);
    if (at < 0) queue.push(turn);
    else queue.splice(at, 0, turn);
    describe();
    const position = queue.indexOf(turn) + 1;
    const ahead = busyWith();
    if (running === undefined && position === 1) return result(turn.input.turnId, 'running', 0, null);
    const turnId = turn.input.turnId;
    const announced = announceQueued({ turnId, position, runningTurnId: ahead }).catch((err: unknown) => {
      log.warn('could not announce a queued turn', { turnId, err: String(err) });
    });
    announcements.set(turnId, announced);
    return result(turnId, 'queued', position, ahead);
  };
  /** Stops the running turn if a later one interrupted it; before its child exists, `runTurn` calls again. */
  const interrupt = () => {
    if (!running?.handle || running.seq > interruptThrough || running.interruptSent) return;
    running.interruptSent = true;
    running.handle.signal(cancelTurn, { interrupt: true, reason: 'a later turn interrupted it' }).catch(ignoreClosed);
  };

  setHandler(
    submitTurn,
    async ({ turn, policy }) => {
      const existing = known(turn.turnId);
      if (existing) return existing;
      const queued: QueuedTurn = { seq: ++accepted, input: turn, policy, acceptedAt: Date.now() };
      if (policy === 'interrupt') {
        // Every turn accepted before it is stopped: the running one now, waiting ones as they start (at once).
        interruptThrough = queued.seq - 1;
        interrupt();
      }
      if (policy === 'steer' && running && queue.length === 0) {
        // Joining the running turn keeps the accepted order only if nothing waits between the two.
        const steer: Steering = { turn: queued, intoTurnId: running.input.turnId };
        steering.set(turn.turnId, steer);
        // Before its child exists, `runTurn` delivers it (the turn takes each steered request once).
        running.handle?.signal(steerTurn, { turnId: turn.turnId }).catch(ignoreClosed);
        await condition(() => steer.outcome !== undefined);
        steering.delete(turn.turnId);
        remember(turn.turnId, steer.outcome!);
        return steer.outcome!;
      }
      return enqueue(queued);
    },
    {
      validator: (raw) => {
        const parsed = SubmitTurnInput.safeParse(raw);
        if (!parsed.success) {
          throw ApplicationFailure.nonRetryable(`invalid turn: ${z.prettifyError(parsed.error)}`, 'turn.invalid_input');
        }
        const { turn, policy } = parsed.data;
        if (
          turn.tenantId !== tenantId ||
          turn.conversationId !== conversationId ||
          turn.turnId !== turnIdFor(tenantId, conversationId, turn.requestId)
        ) {
          throw ApplicationFailure.nonRetryable('the turn belongs to another conversation', 'turn.invalid_input');
        }
        if (known(turn.turnId)) return;
        const ahead = busyWith();
        if (policy === 'reject' && ahead !== null) {
          throw ApplicationFailure.create({
            message: `turn ${ahead} of the conversation is running`,
            type: 'conversation.busy',
            details: [ahead],
            nonRetryable: true,
          });
        }
        if (queue.length >= MAX_QUEUED_TURNS) {
          throw ApplicationFailure.nonRetryable(
            `the conversation already has ${MAX_QUEUED_TURNS} turns waiting`,
            'conversation.queue_full',
          );
        }
      },
    },
  );

  setHandler(
    cancelConversationTurn,
    async ({ turnId }) => {
      const index = queue.findIndex((q) => q.input.turnId === turnId);
      if (index >= 0) {
        queue.splice(index, 1);
        describe();
        await announcements.get(turnId);
        await dropQueuedTurn({ turnId });
        return 'dequeued';
      }
      if (running?.input.turnId === turnId) {
        await condition(() => running?.input.turnId !== turnId || running.handle !== undefined);
        if (running?.input.turnId !== turnId) return 'unknown';
        await running.handle!.signal(cancelTurn, { reason: 'cancelled by the caller' });
        return 'running';
      }
      return 'unknown';
    },
    {
      validator: (raw) => {
        const parsed = CancelConversationTurnInput.safeParse(raw);
        if (!parsed.success) throw ApplicationFailure.nonRetryable('invalid cancel request', 'turn.invalid_input');
      },
    },
  );

  setHandler(steersAccepted, ({ intoTurnId, turnIds }) => {
    for (const turnId of turnIds) {
      const steer = steering.get(turnId);
      if (steer && steer.intoTurnId === intoTurnId) {
        steer.outcome = result(intoTurnId, 'steered', 0, intoTurnId, turnId);
      }
    }
  });

  setHandler(conversationTurns, () => ({
    running: running ? summary(running) : null,
    queued: queue.map(summary),
    steering: [...steering.values()].filter((s) => s.outcome === undefined).map((s) => summary(s.turn)),
  }));

  describe();
  for (;;) {
    const due = () => startedThisRun >= maxTurnsPerRun || workflowInfo().continueAsNewSuggested;
    await condition(() => queue.length > 0 || due());
    if (due()) {
      // Between turns only: nothing runs, so nothing is lost by starting the next run with the queue.
      await Promise.all(announcements.values());
      await condition(allHandlersFinished);
      await continueAsNew<typeof conversation>({
        tenantId,
        conversationId,
        maxTurnsPerRun,
        queue,
        accepted,
        interruptThrough,
        recent: [...recent].map(([turnId, r]) => ({ turnId, result: r })),
      });
    }
    const next = queue.shift()!;
    running = { ...next, interruptSent: false };
    describe();
    await announcements.get(next.input.turnId);
    announcements.delete(next.input.turnId);
    await runTurn(running);
    running = undefined;
    // Messages steered into it that it had no boundary left to take become turns of their own, in order.
    for (const steer of steering.values()) {
      if (steer.intoTurnId === next.input.turnId && steer.outcome === undefined) steer.outcome = enqueue(steer.turn);
    }
    remember(next.input.turnId, result(next.input.turnId, 'running', 0, null));
    startedThisRun += 1;
    describe();
  }

  async function runTurn(turn: RunningTurn): Promise<void> {
    const turnId = turn.input.turnId;
    const interrupted = turn.seq <= interruptThrough;
    try {
      turn.handle = await startChild(chatTurn, {
        workflowId: turnId,
        args: [interrupted ? { ...turn.input, interrupted: true } : turn.input],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        // An operator closing the conversation must not cut an answer short: the turn finishes on its own.
        parentClosePolicy: ParentClosePolicy.ABANDON,
        typedSearchAttributes: [
          { key: keys.TenantId, value: tenantId },
          { key: keys.ConversationId, value: conversationId },
        ],
        staticSummary: `turn #${turn.seq} · ${turn.policy} · ${tenantId} · ${conversationId}`,
      });
    } catch (err: unknown) {
      // Started before (e.g. directly, not through the conversation): it is not run a second time.
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      throw err;
    }
    turn.interruptSent ||= interrupted;
    interrupt();
    // Steered messages that arrived before the child existed.
    for (const [steeredId, steer] of steering) {
      if (steer.intoTurnId === turnId && steer.outcome === undefined) {
        await turn.handle.signal(steerTurn, { turnId: steeredId }).catch(ignoreClosed);
      }
    }
    try {
      await turn.handle.result();
    } catch (err: unknown) {
      // A failed turn announced its failure on its own stream; the conversation goes on with the next one.
      log.warn('a turn of the conversation failed', { turnId, err: String(err) });
    }
  }
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
  const tenant = ExternalId.safeParse(input.tenantId);
  const conversationId = ExternalId.safeParse(input.conversationId);
  if (
    !tenant.success ||
    !conversationId.success ||
    workflowInfo().workflowId !== conversationWorkflowIdFor(tenant.data, conversationId.data)
  ) {
    throw ApplicationFailure.nonRetryable(
      "a conversation's workflow id must be conversation/<tenantId>/<conversationId>",
      'conversation.invalid_input',
    );
  }
  return { tenantId: tenant.data, conversationId: conversationId.data };
}
