import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  type ActivityOptions,
  type LocalActivityOptions,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  TemporalFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities, PrepareTurnResult, TurnflowActivities } from '../activities';
import type { ChatTurnInput, ChatTurnResult, TurnProgress } from '../common';
import { checkTurnInput, conversationWorkflowIdFor, searchAttributeKeys as keys, turnIdFor } from '../common/sandbox';
import { ApprovalBook, decideApproval, supersedeApprovals, type DecideApprovalInput } from './approvals';
import { steerTurn, steersAccepted, type SteerTurnInput } from './conversation-signals';

/** Input of {@link cancelTurn}. */
export interface CancelTurnInput {
  /** Why the caller stopped the turn (logged, not shown to the model). */
  reason?: string;
  /** A later turn of the conversation stopped this one: it ends with `finish_reason: interrupted`. */
  interrupt?: boolean;
}

/**
 * Stop generating: aborts the LLM request and running tools; the partial answer is kept (`cancelled`, or
 * `interrupted` when a later turn asked). Every tool call in flight gets a result: its own, or a stored
 * "cancelled" / "outcome unknown".
 */
export const cancelTurn = defineSignal<[CancelTurnInput]>('cancelTurn');

/** Where the turn is: phase, hop, model, running tools. */
export const turnProgress = defineQuery<TurnProgress>('progress');

/**
 * Storage writes: short, retried while Postgres is away, but not forever: an error that is not transient
 * fails the turn once the schedule-to-close deadline passes.
 */
const turnIo = {
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '15 minutes',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds' },
} as const satisfies ActivityOptions;

/**
 * One LLM hop. Heartbeats every second, so a dead worker is noticed within the heartbeat timeout; waits for
 * the activity to stop on cancellation so the partial answer is stored first. Attempts are not counted here:
 * a lost worker (heartbeat timeout) costs a retry, bounded only by the schedule-to-close deadline, while the
 * activity itself counts provider failures per hop and ends the hop with `llm.retries_exhausted` past its
 * budget.
 *
 * Recovery after a lost worker (issue 16: from a SIGKILL to the next delta): a surviving worker notices the loss
 * through the dead worker's Postgres lease and fails the attempt as `worker.lost` (worker/peers), so the retry
 * interval follows about a second after the kill; the heartbeat timeout is the fallback when it cannot. Its 3 s
 * allow two missed one-second heartbeats (a worker whose event loop stalls longer on a loaded machine gets a
 * spurious timeout: its attempt is abandoned and retried elsewhere, the stream `reset`, tokens paid
 * twice); the first retry after 200 ms, growing to 5 s, so a provider failing with 5xx is asked again sooner (the
 * activity's failure budget still bounds it; a 429's `Retry-After` still sets its own delay).
 */
const llmCall = {
  startToCloseTimeout: '10 minutes',
  scheduleToCloseTimeout: '30 minutes',
  heartbeatTimeout: '3 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '5 seconds' },
} as const satisfies ActivityOptions;

/** {@link turnIo} for a local activity: retried inside the workflow task while Postgres is away. */
const turnIoLocal = { ...turnIo, localRetryThreshold: '1 minute' } as const satisfies LocalActivityOptions;

type TurnSteps = ReturnType<typeof turnSteps>;

/**
 * The activities of a turn, under their `turnflow.` type names: the short storage steps as local activities (a marker
 * in history, no extra workflow task), the model and the tools as activities of their own.
 */
function turnSteps() {
  const local = proxyLocalActivities<TurnflowActivities>(turnIoLocal);
  const remote = proxyActivities<TurnflowActivities>(llmCall);
  return {
    prepareTurn: local['turnflow.prepareTurn'],
    completeTurn: local['turnflow.completeTurn'],
    failTurn: local['turnflow.failTurn'],
    recordToolResults: local['turnflow.recordToolResults'],
    storeToolFailure: local['turnflow.storeToolFailure'],
    resolveStoppedToolCalls: local['turnflow.resolveStoppedToolCalls'],
    storeSteers: local['turnflow.storeSteers'],
    requestApprovals: local['turnflow.requestApprovals'],
    recordApprovalDecision: local['turnflow.recordApprovalDecision'],
    streamCompletion: remote['turnflow.streamCompletion'],
    executeTool: remote['turnflow.executeTool'],
    executeLocalTool: local['turnflow.executeTool'],
  };
}

/**
 * Activity options of one tool call, from the tool's policy (its timeout plus room to store the result). The tool
 * activity heartbeats every second while the tool runs: 3 s without one retries it on another worker (a tool whose
 * synchronous code blocks the event loop that long is retried spuriously; its idempotency key holds). A worker that
 * dies is noticed sooner through its Postgres lease (worker/peers), which fails the attempt as `worker.lost`.
 */
function toolCall(name: string, policy: PrepareTurnResult['tools'][number]['policy']): ActivityOptions {
  return {
    summary: `tool · ${name}`,
    startToCloseTimeout: policy.timeoutMs + 10_000,
    heartbeatTimeout: '3 seconds',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: policy.retry,
  };
}

/**
 * Local-activity options of a call to a `local` tool (`ToolConfig.local`: quick, its timeout at most 10 s): it runs
 * inside the workflow task that received the model's tool calls, so the hop needs no workflow task and no dispatch
 * of its own. Retried by the worker under the tool's policy; a worker lost mid-call is noticed when the workflow task
 * times out, and the next worker runs the call again under the same idempotency key.
 */
function localToolCall(name: string, policy: PrepareTurnResult['tools'][number]['policy']): LocalActivityOptions {
  return {
    summary: `tool · ${name}`,
    startToCloseTimeout: policy.timeoutMs + 10_000,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: policy.retry,
  };
}

/**
 * One user turn: the seed's `stream_and_handle_tools` as a workflow. Each hop streams the model's answer
 * (an activity), runs the tool calls it asked for in parallel (an activity each), records their results
 * and asks again, until the model answers without tools or the hop limit is reached; then the answer is
 * compacted into one stored message. History holds ids and counts only, never the text.
 */
export async function chatTurn(rawInput: ChatTurnInput): Promise<ChatTurnResult> {
  const {
    prepareTurn,
    completeTurn,
    failTurn,
    recordToolResults,
    storeToolFailure,
    resolveStoppedToolCalls,
    storeSteers,
    requestApprovals,
    recordApprovalDecision,
    streamCompletion,
    executeTool,
    executeLocalTool,
  } = turnSteps();
  const input = parseInput(rawInput);
  const progress: TurnProgress = {
    phase: 'preparing',
    hop: 0,
    model: input.model ?? '',
    toolsRunning: [],
    cancelRequested: false,
  };
  const loop = new CancellationScope();
  // A turn interrupted before it began stores its user message and ends at once, empty.
  let interrupted = input.interrupted === true;
  if (interrupted) progress.cancelRequested = true;
  /** Messages steered in by the conversation, taken in at the next hop boundary. */
  const steers: SteerTurnInput[] = [];
  setHandler(turnProgress, () => progress);
  setHandler(cancelTurn, (signal) => {
    progress.cancelRequested = true;
    if (signal.interrupt === true) interrupted = true;
    loop.cancel();
  });
  /** Calls waiting for a person (and every decision taken), by approval id. */
  const approvals = new ApprovalBook();
  /** A new message arrived while calls waited for approval: they were denied, and the turn ends after this round. */
  let superseded = false;
  /** A newer message of the conversation waits for this turn to end: no call of it waits for a person any more. */
  let newerMessageWaits = false;
  /** Denies the calls waiting for a person (`superseded`) when a newer message is there, now or when they ask. */
  const supersedeWaiting = () => {
    if (!newerMessageWaits && steers.length === 0) return;
    const waiting = approvals.waiting();
    if (waiting.length === 0) return;
    superseded = true;
    for (const p of waiting) approvals.decide(p.approvalId, false, 'superseded');
  };
  setHandler(steerTurn, (steer) => {
    if (!steers.some((s) => s.turnId === steer.turnId)) steers.push(steer);
    // A message steered in while calls wait for approval answers them: they are denied, and the turn ends without
    // another model call, leaving the message to its conversation (it runs as the next turn).
    supersedeWaiting();
  });
  setHandler(supersedeApprovals, () => {
    newerMessageWaits = true;
    supersedeWaiting();
  });
  setHandler(decideApproval, (decision) => approvals.handle(decision), {
    validator: (decision: DecideApprovalInput) => approvals.validate(decision, Date.now()),
  });

  /**
   * What the turn's first hop prepared (the LLM activity stores the user message and validates the turn before its
   * request, so the first workflow task only schedules it), or `prepareTurn`, when the turn ends before that hop did.
   */
  let prepared: PrepareTurnResult | undefined;
  /** The model the turn runs on, once prepared. */
  let model: string | undefined;
  let policies = new Map<string, PrepareTurnResult['tools'][number]['policy']>();
  const adopt = (p: PrepareTurnResult) => {
    prepared = p;
    model = p.model;
    progress.model = p.model;
    policies = new Map(p.tools.map((t) => [t.name, t.policy]));
  };
  /** The prepared turn, in a stretch that runs only after the first hop reported it. */
  const preparedTurn = (): PrepareTurnResult => {
    if (!prepared) throw ApplicationFailure.nonRetryable('the first hop reported no preparation', 'turn.internal');
    return prepared;
  };
  /**
   * Its answer is stored, but maybe never announced: a run lost between storing the answer and writing `done` (a
   * kill, a timed-out workflow task) left its stream without an end. Completing again is idempotent: nothing new is
   * stored, and only the events still missing are written (they are keyed). It started as `running`, so its search
   * attributes say how it ended.
   */
  const answerStored = async (stored: ChatTurnResult): Promise<ChatTurnResult> => {
    const result = await CancellationScope.nonCancellable(() =>
      completeTurn({
        turnId: input.turnId,
        status: stored.status,
        finishReason: stored.finishReason,
        hops: stored.hops,
        hopLimit: stored.finishReason === 'tool_limit_reached' ? input.maxHops : null,
        // Stored with the answer, in its transaction, when there was one to make.
        restateHop: false,
        persistence: input.persistence,
      }),
    );
    upsertSearchAttributes([
      { key: keys.TurnStatus, value: result.status },
      { key: keys.TurnHops, value: result.hops },
      { key: keys.LlmModel, value: result.model },
    ]);
    return result;
  };
  const persistence = input.persistence;

  let hop = 0;
  // Only what the provider sent (or our own `tool_limit_reached` / `cancelled`): never an invented `stop`.
  let finishReason: string | null = null;
  let hopLimit: number | null = null;
  let cancelled = progress.cancelRequested;
  let restateHop = false;
  /** The tool round a stop cut short: each call's outcome, so none is left without a result. */
  let stoppedRound:
    { hop: number; outcomes: Map<string, ToolCallOutcome>; awaiting: Map<string, PendingApprovalOf> } | undefined;

  /** What an operator sees while calls wait for a person: the status, and each waiting call in the details. */
  const showApprovals = (round: number) => {
    const waiting = approvals.waiting();
    if (waiting.length > 0) {
      progress.phase = 'awaiting_approval';
      const list = waiting.map(
        (p) => `${p.toolName} (${p.approvalId}, until ${new Date(p.expiresAtMs).toISOString()})`,
      );
      setCurrentDetails(`hop ${round} · awaiting approval of ${waiting.length} call(s): ${list.join(', ')}`);
      upsertSearchAttributes([{ key: keys.TurnStatus, value: 'awaiting_approval' }]);
    } else if (progress.phase === 'awaiting_approval') {
      progress.phase = 'tools';
      setCurrentDetails(`hop ${round} · running tools`);
      upsertSearchAttributes([{ key: keys.TurnStatus, value: 'running' }]);
    }
  };

  const runHops = async () => {
    for (;;) {
      progress.phase = 'streaming';
      const shown = model ?? input.model;
      setCurrentDetails(`hop ${hop} · streaming${shown === undefined ? '' : ` · ${shown}`}`);
      const settings = {
        turnId: input.turnId,
        hop,
        // At the hop limit the model's tool calls are not run, so they must not be announced as running.
        toolsMayRun: hop < input.maxHops,
        persistence,
        logInitialResponse: input.logInitialResponse,
        ...(input.budget ? { maxTokens: input.budget.maxTokens } : {}),
      };
      const reply = await streamCompletion.executeWithOptions(
        { ...llmCall, summary: `llm · hop ${hop}${shown === undefined ? '' : ` · ${shown}`}` },
        [
          prepared
            ? { ...settings, model: prepared.model, tools: prepared.tools.map((t) => t.name) }
            : { ...settings, prepare: input },
        ],
      );
      if (reply.prepared) adopt(reply.prepared);
      // Already finished (a start after Temporal forgot the run): answered from storage below.
      if (preparedTurn().existing) return;
      finishReason = reply.finishReason;
      if (reply.cancelled) {
        cancelled = true;
        return;
      }
      if (reply.toolCalls.length === 0) return;
      if (hop >= input.maxHops) {
        hopLimit = input.maxHops;
        finishReason = 'tool_limit_reached';
        return;
      }

      progress.phase = 'tools';
      progress.toolsRunning = reply.toolCalls.map((c) => c.name);
      setCurrentDetails(`hop ${hop} · running ${reply.toolCalls.length} tool(s): ${progress.toolsRunning.join(', ')}`);
      const offered = preparedTurn().tools.map((t) => t.name);
      const outcomes = new Map<string, ToolCallOutcome>();
      const round = hop;
      // Calls that need a person's approval are stored with their arguments and announced; the rest run at once.
      // When no tool offered this turn can need one, the round skips the step (a local activity and its task).
      const gate = preparedTurn().approvals
        ? await requestApprovals({
            turnId: input.turnId,
            hop,
            offered,
            approvalTools: input.approvalTools ?? [],
            persistence,
          })
        : { pending: [] };
      const awaiting = new Map(gate.pending.map((p) => [p.toolCallId, p]));
      for (const p of gate.pending) approvals.add(p);
      // The user moved on before these calls asked: nobody is there to decide them.
      supersedeWaiting();
      if (gate.pending.length > 0) showApprovals(round);

      // The round's only call, run locally with nobody to ask, announces its own result: the workflow task that
      // runs it then schedules the next hop at once, with no `recordToolResults` step between.
      const only = reply.toolCalls.length === 1 ? reply.toolCalls[0] : undefined;
      const selfAnnouncing =
        only !== undefined && gate.pending.length === 0 && (policies.get(only.name) ?? UNKNOWN_TOOL_POLICY).local;
      let announced = false;
      const runCall = (call: (typeof reply.toolCalls)[number], argumentsHash?: string): Promise<void> => {
        // The model may name a tool this turn does not offer; the activity tells the model so.
        const policy = policies.get(call.name) ?? UNKNOWN_TOOL_POLICY;
        const identity = { turnId: input.turnId, hop: round, toolCallId: call.id };
        outcomes.set(call.id, 'unknown');
        const args = {
          ...identity,
          offered,
          ...(argumentsHash === undefined ? {} : { argumentsHash }),
          ...(selfAnnouncing ? { announce: { persistence } } : {}),
        };
        const run = policy.local
          ? executeLocalTool.executeWithOptions(localToolCall(call.name, policy), [args])
          : executeTool.executeWithOptions(toolCall(call.name, policy), [args]);
        return run.then(
          () => {
            outcomes.set(call.id, 'finished');
            announced = selfAnnouncing;
          },
          async (err: unknown) => {
            if (isCancellation(err)) {
              outcomes.set(call.id, 'cancelled');
              throw err;
            }
            // Retries ran out: the model still gets an answer for this call, and the turn goes on.
            await storeToolFailure({ ...identity, message: failureMessage(err), errorType: failureType(err) });
            outcomes.set(call.id, 'finished');
          },
        );
      };
      /** Waits for the person (no activity, no connection held), records the decision, runs the call if approved. */
      const approveThenRun = async (call: (typeof reply.toolCalls)[number], p: PendingApprovalOf): Promise<void> => {
        outcomes.set(call.id, 'awaiting');
        const left = p.expiresAtMs - Date.now();
        if (left > 0) await condition(() => approvals.isDecided(p.approvalId), left);
        approvals.decide(p.approvalId, false, 'timeout');
        const taken = approvals.decision(p.approvalId)!;
        const recorded = await recordApprovalDecision({
          turnId: input.turnId,
          hop: round,
          approvalId: p.approvalId,
          approved: taken.approved,
          decidedBy: taken.decidedBy,
          persistence,
        });
        approvals.record(recorded);
        showApprovals(round);
        if (!recorded.approved) {
          outcomes.set(call.id, 'finished');
          return;
        }
        await runCall(call, p.argumentsHash);
      };
      const calls = reply.toolCalls.map((call) => {
        const p = awaiting.get(call.id);
        return p ? approveThenRun(call, p) : runCall(call);
      });
      // On a stop, wait for every call to settle, so each one's outcome is known before the turn ends.
      const settled = await Promise.allSettled(calls);
      const stopped = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (stopped) {
        stoppedRound = { hop, outcomes, awaiting };
        throw stopped.reason;
      }
      progress.toolsRunning = [];
      if (!announced) await recordToolResults({ turnId: input.turnId, hop, persistence });
      hop += 1;
      progress.hop = hop;
      if (superseded) {
        // The user moved on while calls waited: the turn ends here, and a steered message runs as the next turn.
        cancelled = true;
        interrupted = true;
        return;
      }
      if (steers.length > 0) await takeSteers(hop);
    }
  };

  /** A hop boundary: messages steered in so far enter the context of hop `next`, and the conversation is told. */
  const takeSteers = async (next: number) => {
    const taken = steers.splice(0, steers.length);
    setCurrentDetails(`hop ${next} · taking ${taken.length} steered message(s)`);
    await storeSteers({ turnId: input.turnId, hop: next, steers: taken });
    // A direct turn (started without its conversation, which adopted it later) tells the conversation's current run.
    const parent = workflowInfo().parent;
    const conversation = parent
      ? getExternalWorkflowHandle(parent.workflowId, parent.runId)
      : getExternalWorkflowHandle(conversationWorkflowIdFor(input.tenantId, input.conversationId));
    await conversation.signal(steersAccepted, { intoTurnId: input.turnId, turnIds: taken.map((s) => s.turnId) });
  };

  try {
    if (!cancelled) await loop.run(runHops);
  } catch (err: unknown) {
    // Asked to stop, an activity that cannot confirm it (its worker died, so it timed out) ends the turn stopped,
    // with what was stored, rather than failed: the caller asked for the end, not for an error; so does an attempt
    // that failed in a way a retry could mend (a 429, a dropped stream), which reaches the workflow only because the
    // stop ended its retries. A failure no retry can mend (the provider refused the request) fails the turn whether
    // or not a stop came too: a fresh worker sees a stop and that failure in one activation, stop first, where the
    // worker that ran it may have seen the failure alone, and both must take the same path.
    const refused = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.nonRetryable;
    const stopOutlived = progress.cancelRequested && err instanceof ActivityFailure && !refused;
    if (!isCancellation(err) && !stopOutlived) {
      // A turn not known to be prepared (its first hop refused a model or tools it may not use, or found no stored
      // message) fails with its own cause even if storing the failure fails too (a turn without a row has nothing to
      // fail).
      const wasPrepared = prepared !== undefined;
      await CancellationScope.nonCancellable(() => fail(failTurn, input, hop, err, model ?? input.model)).catch(
        (failed: unknown) => {
          if (wasPrepared) throw failed;
        },
      );
      throw err;
    }
    cancelled = true;
    // A model attempt that never confirmed the stop may have announced text it never stored (deltas are stored in
    // batches): the end restates the hop from what was stored, so its readers drop the rest.
    restateHop = stopOutlived && err.activityType === 'turnflow.streamCompletion';
  }
  if (!prepared) {
    // The turn ends before its first hop prepared it (interrupted before it began, stopped before the model was
    // asked): prepared now, so its user message is stored and it ends as every turn does.
    try {
      adopt(await CancellationScope.nonCancellable(() => prepareTurn(input)));
    } catch (err: unknown) {
      await CancellationScope.nonCancellable(() => fail(failTurn, input, 0, err)).catch(() => undefined);
      throw err;
    }
  }
  const stored = preparedTurn().existing;
  if (stored) return answerStored(stored);
  if (stoppedRound) {
    const round = stoppedRound;
    // Every call of the round the stop cut short gets a result: its own, or "cancelled" / "outcome unknown".
    await CancellationScope.nonCancellable(async () => {
      const open: { toolCallId: string; outcome: 'cancelled' | 'unknown' }[] = [];
      for (const [toolCallId, outcome] of round.outcomes) {
        if (outcome === 'finished') continue;
        const p = round.awaiting.get(toolCallId);
        if (outcome !== 'awaiting' || !p) {
          open.push({ toolCallId, outcome: outcome === 'awaiting' ? 'cancelled' : outcome });
          continue;
        }
        // A call still waiting for a person is denied by the stop (or the new message); a decision already recorded
        // stands, and an approved call that never started was cancelled.
        approvals.decide(p.approvalId, false, interrupted ? 'superseded' : 'stop');
        const taken = approvals.decision(p.approvalId)!;
        const recorded = await recordApprovalDecision({
          turnId: input.turnId,
          hop: round.hop,
          approvalId: p.approvalId,
          approved: taken.approved,
          decidedBy: taken.decidedBy,
          persistence,
        });
        approvals.record(recorded);
        if (recorded.approved) open.push({ toolCallId, outcome: 'cancelled' });
      }
      showApprovals(round.hop);
      await resolveStoppedToolCalls({ turnId: input.turnId, hop: round.hop, calls: open });
      await recordToolResults({ turnId: input.turnId, hop: round.hop, persistence });
    });
  }
  // Storing the answer is never cut short: not by a stop request, not by the workflow's own cancellation.
  const result = await CancellationScope.nonCancellable(() =>
    finish(input, { hop, cancelled, finishReason, hopLimit, restateHop }),
  );
  if (CancellationScope.current().consideredCancelled && !progress.cancelRequested) {
    // The workflow itself was cancelled (not "stop generating"): its answer is stored, and it ends as cancelled.
    throw new CancelledFailure('the turn was cancelled');
  }
  return result;

  async function finish(
    turn: ChatTurnInput,
    state: {
      hop: number;
      cancelled: boolean;
      finishReason: string | null;
      hopLimit: number | null;
      restateHop: boolean;
    },
  ): Promise<ChatTurnResult> {
    progress.phase = 'completing';
    setCurrentDetails(`hop ${state.hop} · completing`);
    const result = await completeTurn({
      turnId: turn.turnId,
      status: state.cancelled ? 'cancelled' : 'completed',
      finishReason: state.cancelled ? (interrupted ? 'interrupted' : 'cancelled') : state.finishReason,
      hops: state.hop,
      hopLimit: state.cancelled ? null : state.hopLimit,
      restateHop: state.restateHop,
      persistence: turn.persistence,
    }).catch((err: unknown) => {
      // Its failure was stored (and announced) before this run got here: the workflow ends failed, as stored.
      if (failureType(err) === 'turn.already_failed') {
        setCurrentDetails(`failed · ${failureType(err)}`);
        upsertSearchAttributes([
          { key: keys.TurnStatus, value: 'failed' },
          { key: keys.TurnHops, value: state.hop },
          { key: keys.LlmModel, value: preparedTurn().model },
        ]);
      }
      throw err;
    });
    progress.phase = 'done';
    setCurrentDetails(`done · ${result.finishReason} · ${state.hop} tool round(s)`);
    upsertSearchAttributes([
      { key: keys.TurnStatus, value: result.status },
      { key: keys.TurnHops, value: state.hop },
      { key: keys.LlmModel, value: preparedTurn().model },
    ]);
    return result;
  }
}

/**
 * How a tool call of a round ended: its result is stored, its activity acknowledged a stop, or nobody knows; or it
 * still waits for a person's approval.
 */
type ToolCallOutcome = 'finished' | 'cancelled' | 'unknown' | 'awaiting';

type PendingApprovalOf = Awaited<ReturnType<Activities['requestApprovals']>>['pending'][number];

/** Used for a call to a tool the turn does not offer: the activity only reports the unknown tool. */
const UNKNOWN_TOOL_POLICY = {
  timeoutMs: 10_000,
  local: true,
  retry: { maximumAttempts: 3, initialInterval: 1_000, backoffCoefficient: 2, maximumInterval: 10_000 },
};

/** The failure an activity reported (the ApplicationFailure under an ActivityFailure), else `err`. */
function rootFailure(err: unknown): unknown {
  return err instanceof TemporalFailure && err.cause instanceof ApplicationFailure ? err.cause : err;
}

function failureType(err: unknown): string | null {
  const cause = rootFailure(err);
  return cause instanceof ApplicationFailure ? (cause.type ?? null) : null;
}

function failureMessage(err: unknown): string {
  const cause = rootFailure(err);
  return cause instanceof Error ? cause.message : String(cause);
}

/** Stores and announces the turn's failure; its one search-attribute upsert carries its hops and `model`, if known. */
async function fail(
  failTurn: TurnSteps['failTurn'],
  input: ChatTurnInput,
  hop: number,
  err: unknown,
  model?: string,
): Promise<void> {
  const cause = rootFailure(err);
  const errorType = cause instanceof ApplicationFailure ? (cause.type ?? 'turn.failed') : 'turn.failed';
  const message = failureMessage(err);
  setCurrentDetails(`failed · ${errorType}`);
  upsertSearchAttributes([
    { key: keys.TurnStatus, value: 'failed' },
    { key: keys.TurnHops, value: hop },
    ...(model !== undefined ? [{ key: keys.LlmModel, value: model }] : []),
  ]);
  await failTurn({ turnId: input.turnId, hop, errorType, message, persistence: input.persistence });
}

function parseInput(raw: unknown): ChatTurnInput {
  const checked = checkTurnInput(raw);
  if ('problem' in checked) {
    throw ApplicationFailure.nonRetryable(`invalid turn input: ${checked.problem}`, 'turn.invalid_input');
  }
  const { input } = checked;
  const expected = turnIdFor(input.tenantId, input.conversationId, input.requestId);
  const { workflowId } = workflowInfo();
  if (input.turnId !== workflowId || workflowId !== expected) {
    throw ApplicationFailure.nonRetryable(
      `a turn's id must be ${expected} (derived from tenantId, conversationId and requestId)`,
      'turn.invalid_input',
    );
  }
  return input;
}
