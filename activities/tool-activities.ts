import { Context, cancellationDetails } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { eventKeys, storableText, type PersistenceOptions } from '../common';
import { captured, failSpan, GenAi, startToolSpan } from '../tracing';
import type { ActivityDeps } from './deps';
import type { ToolCallOutcome } from './metrics';
import { approvalOfCall, argumentsHash, type ApprovalRow } from './repo/approvals';
import {
  getToolResult,
  hopToolCalls,
  hopToolFingerprints,
  saveToolResult,
  type StoredToolCall,
  type ToolResultRow,
} from './repo/messages';
import { storageStep } from './repo/storage-failure';
import { StreamWriter } from './stream/writer';
import { RetryableToolError, runToolCall, toolIdempotencyKey, toToolFailure, type ToolOutcome } from './tools';

/** Longest tool result stored and shown to the model; longer ones are cut with a note saying so. */
export const MAX_TOOL_RESULT_CHARS = 100_000;

/** Identity of one tool call of a turn; the call's name and arguments are loaded from the stored hop. */
export interface ExecuteToolInput {
  turnId: string;
  hop: number;
  toolCallId: string;
  /**
   * The tools the turn offered the model. A call to any other tool is answered "unknown tool" and runs nothing,
   * even if the worker has it.
   */
  offered: string[];
  /**
   * The hash of the arguments a person approved, for a call that needed approval. The call runs only if its stored
   * approval says approved, by a person, for arguments with this very hash.
   */
  argumentsHash?: string;
  /**
   * Announce the result on the turn's stream once it is stored (a `tool_result` event), as `recordToolResults`
   * would: given for the only call of a round run as a local activity, so the round needs no step of its own.
   */
  announce?: { persistence: PersistenceOptions };
}

/** Input of `storeToolFailure`. */
export interface StoreToolFailureInput extends Pick<ExecuteToolInput, 'turnId' | 'hop' | 'toolCallId'> {
  /** The failure's message (shown to the model only when the tool itself failed: `errorType` `tool.*`). */
  message: string;
  /** The failure's type, if it was an `ApplicationFailure`. */
  errorType?: string | null;
}

export interface ExecuteToolResult {
  isError: boolean;
  errorType: string | null;
  /** The result was already stored by an earlier attempt; the tool did not run again. */
  reused: boolean;
}

/** Input of `resolveStoppedToolCalls`: the calls of a round a stop cut short, with what is known of each. */
export interface ResolveStoppedToolCallsInput {
  turnId: string;
  hop: number;
  calls: { toolCallId: string; outcome: 'cancelled' | 'unknown' }[];
}

/** What the model (and the caller) reads for a tool call a stop cut short. */
export const STOPPED_TOOL_RESULT = {
  cancelled: 'The tool call was cancelled: the turn was stopped before it finished.',
  unknown: 'The turn was stopped while this tool call ran; whether it took effect is unknown.',
} as const;

export interface RecordToolResultsInput {
  turnId: string;
  hop: number;
  persistence: PersistenceOptions;
}

/** Builds the tool activities: `executeTool` (one call, exactly once) and `recordToolResults` (announce a hop's). */
export function createToolActivities(deps: ActivityDeps) {
  const heartbeatIntervalMs = deps.heartbeatIntervalMs ?? 1_000;
  /** Counts a stored result once: only the call that inserted it. */
  const counted = (saved: { name: string; insertedFor: string | null }, outcome: ToolCallOutcome) => {
    if (saved.insertedFor !== null) {
      deps.metrics?.toolResultStored({ tenantId: saved.insertedFor, tool: saved.name, outcome });
    }
  };

  async function executeTool(input: ExecuteToolInput): Promise<ExecuteToolResult> {
    return storageStep(async () => {
      const { result, stored } = await executeToolSteps(input);
      if (input.announce) {
        await announceResults({ ...input, persistence: input.announce.persistence }, [input.toolCallId], [stored]);
      }
      return result;
    });
  }

  /** Runs the call (or finds its result stored); returns what the workflow reads and the stored result itself. */
  async function executeToolSteps(
    input: ExecuteToolInput,
  ): Promise<{ result: ExecuteToolResult; stored: ToolResultRow }> {
    const ctx = Context.current();
    // Read at once (one round trip's wait, not three): a run inside a workflow task holds up the turn's hop.
    const [stored, calls, approval] = await Promise.all([
      getToolResult(deps.pool, input.turnId, input.hop, input.toolCallId),
      hopToolCalls(deps.pool, input.turnId, input.hop),
      approvalOfCall(deps.pool, input),
    ]);
    // A result stored by an earlier attempt means the side effect already happened: never run it twice.
    if (stored) return { result: { isError: stored.isError, errorType: null, reused: true }, stored };

    const call = calls.find((c) => c.id === input.toolCallId);
    if (!call) {
      throw ApplicationFailure.nonRetryable(
        `hop ${input.hop} of ${input.turnId} has no tool call ${input.toolCallId}`,
        'tool.unknown_call',
      );
    }
    checkApproval(input, call, approval);
    // Only the tools this turn offered can run; for any other name the model reads "unknown tool".
    const offered = new Set(input.offered);
    const registry = deps.tools.subset(deps.tools.names.filter((name) => offered.has(name)));
    const changed = await pinnedToolChange(registry, input, call.function.name);
    if (changed !== undefined) {
      deps.logger.warn(
        { turnId: input.turnId, hop: input.hop, toolCallId: input.toolCallId, tool: call.function.name },
        'tool changed since the model chose it; call refused',
      );
      const saved = await saveToolResult(deps.pool, input.turnId, input.hop, {
        toolCallId: call.id,
        name: call.function.name,
        content: changed,
        isError: true,
      });
      return { result: { isError: saved.isError, errorType: 'tool.changed', reused: false }, stored: saved };
    }
    const tracing = deps.tracing;
    const span =
      tracing &&
      startToolSpan(tracing, {
        turnId: input.turnId,
        hop: input.hop,
        toolCallId: input.toolCallId,
        name: call.function.name,
      });
    if (span) captured(tracing, span, GenAi.toolCallArguments, () => call.function.arguments);
    // A local tool (`ToolConfig.local`) runs inside a workflow task, which has no heartbeat to send.
    const beat = ctx.info.isLocal ? undefined : setInterval(() => ctx.heartbeat(), heartbeatIntervalMs);
    const startedAt = performance.now();
    let outcome: ToolOutcome;
    try {
      outcome = await runToolCall(
        registry,
        { id: call.id, name: call.function.name, arguments: call.function.arguments },
        {
          idempotencyKey: toolIdempotencyKey(input),
          signal: ctx.cancellationSignal,
          deadline: new Date(Date.now() + ctx.info.startToCloseTimeoutMs),
          turnId: input.turnId,
          hop: input.hop,
          toolCallId: input.toolCallId,
        },
      );
    } catch (err: unknown) {
      // Only a tool's RetryableToolError (retried) or a caller bug (not) escapes runToolCall.
      deps.logger.warn({ turnId: input.turnId, hop: input.hop, toolCallId: input.toolCallId, err }, 'tool call failed');
      if (err instanceof RetryableToolError) {
        // Kept for the model, should retries run out (storeToolFailure); the failure itself carries our words only.
        await storageStep(() =>
          deps.pool.query(
            `INSERT INTO tool_retry_errors (turn_id, hop, tool_call_id, message) VALUES ($1, $2, $3, $4)
             ON CONFLICT (turn_id, hop, tool_call_id) DO UPDATE SET message = EXCLUDED.message`,
            [input.turnId, input.hop, input.toolCallId, storableText(err.message.slice(0, 2_000))],
          ),
        );
      }
      const failure = toToolFailure(err);
      if (span) failSpan(span, failure.type ?? 'tool.failed', failure.message);
      throw failure;
    } finally {
      clearInterval(beat);
      deps.metrics?.toolRun({ tool: call.function.name, seconds: (performance.now() - startedAt) / 1000 });
    }
    if (span) {
      captured(tracing, span, GenAi.toolCallResult, () => outcome.content);
      if (outcome.isError) failSpan(span, `tool.${outcome.errorType ?? 'error'}`, 'the tool reported an error');
      else span.end();
    }
    if (outcome.errorType === 'cancelled' && cancellationDetails()) throw ctx.cancellationSignal.reason;
    const saved = await saveToolResult(deps.pool, input.turnId, input.hop, {
      toolCallId: call.id,
      name: call.function.name,
      content: storableText(capResult(outcome.content)),
      isError: outcome.isError,
    });
    counted(saved, saved.isError ? 'error' : 'ok');
    return { result: { isError: saved.isError, errorType: outcome.errorType ?? null, reused: false }, stored: saved };
  }

  /**
   * What the model reads instead of a result when the tool changed (its fingerprint differs from the one stored with
   * the hop that offered it) or its owner stopped listing it: the call is not made. `undefined` when the call may run
   * (the tool has no fingerprint, as tools defined in code, or it is unchanged).
   */
  async function pinnedToolChange(
    registry: ReturnType<typeof deps.tools.subset>,
    input: ExecuteToolInput,
    name: string,
  ): Promise<string | undefined> {
    const now = registry.currentFingerprint(name);
    if (now === undefined) return undefined;
    const chosen = (await hopToolFingerprints(deps.pool, input.turnId, input.hop))[name];
    if (chosen === undefined) return undefined;
    if (!now.available) {
      return `The tool "${name}" is no longer offered by its server, so this call was not made.`;
    }
    if (now.fingerprint === chosen) return undefined;
    return (
      `The tool "${name}" changed after it was offered (its description or input schema is different now), so ` +
      'this call was not made. Call it again if it is still needed: the next request offers it as it is now.'
    );
  }

  /**
   * A call that needed approval runs only with a person's approval of exactly its arguments: a call whose approval
   * is missing, pending or denied, or whose arguments hash differently from what was approved, is refused for good.
   */
  function checkApproval(input: ExecuteToolInput, call: StoredToolCall, approval: ApprovalRow | undefined): void {
    if (!approval && input.argumentsHash === undefined) return;
    const hash = argumentsHash(call.function.arguments);
    const problem = !approval
      ? 'it has no stored approval'
      : approval.approved !== true || approval.decidedBy !== 'user'
        ? 'it was not approved'
        : approval.argumentsHash !== hash || (input.argumentsHash !== undefined && input.argumentsHash !== hash)
          ? 'its arguments differ from the ones approved'
          : approval.toolName !== call.function.name
            ? 'its tool differs from the one approved'
            : undefined;
    if (problem === undefined) return;
    deps.logger.warn(
      { turnId: input.turnId, hop: input.hop, toolCallId: input.toolCallId, problem },
      'tool call refused',
    );
    throw ApplicationFailure.nonRetryable(
      `The tool call was refused and did not run: ${problem}.`,
      'tool.not_approved',
    );
  }

  /**
   * Stores an error result for a call whose activity failed for good (retries exhausted, timed out), so the
   * model still gets an answer for every call it made and the turn goes on.
   */
  async function storeToolFailure(input: StoreToolFailureInput): Promise<void> {
    // A tool's own failure message is meant for the model; any other (a timeout, a storage error) may hold
    // internals, and the tool_result event reaches the caller too.
    const toolSaid = input.errorType?.startsWith('tool.') === true;
    if (!toolSaid) deps.logger.warn({ ...input }, 'tool call failed for good');
    await storageStep(async () => {
      // The tool's own last words are in Postgres (the failure's message is ours, see executeTool).
      const { rows } = await deps.pool.query<{ message: string }>(
        `SELECT message FROM tool_retry_errors WHERE turn_id = $1 AND hop = $2 AND tool_call_id = $3`,
        [input.turnId, input.hop, input.toolCallId],
      );
      const said = rows[0]?.message ?? input.message;
      const content = toolSaid
        ? `The tool failed and was not retried further: ${said}`
        : 'The tool failed and was not retried further.';
      const call = (await hopToolCalls(deps.pool, input.turnId, input.hop)).find((c) => c.id === input.toolCallId);
      const saved = await saveToolResult(deps.pool, input.turnId, input.hop, {
        toolCallId: input.toolCallId,
        name: call?.function.name ?? 'unknown',
        content: storableText(capResult(content)),
        isError: true,
      });
      counted(saved, 'failed');
    });
  }

  /**
   * Gives every call of a round a stop cut short a result, so none is left without one: a call whose own result is
   * stored keeps it (the insert does nothing), the others get "cancelled" or "outcome unknown".
   */
  async function resolveStoppedToolCalls(input: ResolveStoppedToolCallsInput): Promise<void> {
    await storageStep(async () => {
      const calls = await hopToolCalls(deps.pool, input.turnId, input.hop);
      for (const { toolCallId, outcome } of input.calls) {
        const call = calls.find((c) => c.id === toolCallId);
        const saved = await saveToolResult(deps.pool, input.turnId, input.hop, {
          toolCallId,
          name: call?.function.name ?? 'unknown',
          content: STOPPED_TOOL_RESULT[outcome],
          isError: true,
        });
        counted(saved, outcome);
      }
    });
  }

  async function recordToolResults(input: RecordToolResultsInput): Promise<{ recorded: number }> {
    return storageStep(() => recordToolResultsSteps(input));
  }

  async function recordToolResultsSteps(input: RecordToolResultsInput): Promise<{ recorded: number }> {
    const callIds = (await hopToolCalls(deps.pool, input.turnId, input.hop)).map((c) => c.id);
    const results = await Promise.all(callIds.map((id) => getToolResult(deps.pool, input.turnId, input.hop, id)));
    return announceResults(input, callIds, results);
  }

  /**
   * Writes a `tool_result` event for each of `callIds` (in that order) with its stored result, skipping a call with
   * none yet; keyed, so once. Read everything before: the writer holds a connection until it closes.
   */
  async function announceResults(
    input: RecordToolResultsInput,
    callIds: string[],
    results: (ToolResultRow | undefined)[],
  ): Promise<{ recorded: number }> {
    const ctx = Context.current();
    const writer = await StreamWriter.open(deps.pool, {
      ...input,
      attempt: ctx.info.attempt,
      channels: deps.streamConnections,
    });
    let recorded = 0;
    try {
      for (const [i, toolCallId] of callIds.entries()) {
        const result = results[i];
        if (!result) continue;
        const event = await writer.event(
          {
            type: 'tool_result',
            toolCallId,
            name: result.name,
            content: result.content,
            isError: result.isError,
          },
          eventKeys.toolResult({ hop: input.hop, toolCallId }),
        );
        if (event) recorded += 1;
      }
      await writer.close();
      return { recorded };
    } finally {
      writer.abandon();
    }
  }

  return { executeTool, storeToolFailure, resolveStoppedToolCalls, recordToolResults };
}

function capResult(content: string): string {
  if (content.length <= MAX_TOOL_RESULT_CHARS) return content;
  const cut = content.length - MAX_TOOL_RESULT_CHARS;
  return `${content.slice(0, MAX_TOOL_RESULT_CHARS)}\n[… ${cut} more characters cut: the result was too long]`;
}
