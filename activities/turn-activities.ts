import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import {
  eventKeys,
  HOP_LIMIT_SEPARATOR,
  messageKeys,
  hopLimitWarning,
  publicFailureMessage,
  storableText,
  type ChatTurnInput,
  type ChatTurnResult,
  type PersistenceOptions,
  type Usage,
} from '../common';
import type { ActivityDeps } from './deps';
import { turnOutcome } from './metrics';
import { UnknownModelError } from './errors';
import { announcedText, hopMessages } from './repo/messages';
import { storageStep } from './repo/storage-failure';
import { turnUsage } from './repo/usage';
import { inTransaction } from '../client/transaction';
import { ensureTurn, storedResult } from './repo/turns';
import { compactTextEvents } from './stream/compact';
import { storeHopRestatement } from './stream/restate';
import { StreamWriter } from './stream/writer';
import { UnknownToolsError, type ToolPolicy } from './tools';

export interface PrepareTurnResult {
  model: string;
  /** Tools the model may call this turn, with how their activities are scheduled. */
  tools: { name: string; policy: ToolPolicy }[];
  /** Set when this turn already finished (a start after Temporal forgot the run): answer from storage. */
  existing: ChatTurnResult | null;
  /**
   * Whether a call to a tool offered this turn can need a person's approval (the tool's own rule, the worker's
   * approval tools or the request's). When none can, the workflow runs a tool round without `requestApprovals`.
   */
  approvals: boolean;
}

/** Input of `prepareTurn`: the turn's input (its message is read from the turn row, where the claim stored it). */
export type PrepareTurnInput = ChatTurnInput;

export interface CompleteTurnInput {
  turnId: string;
  status: 'completed' | 'cancelled';
  /** The provider's last finish reason, `tool_limit_reached` or `cancelled`; `null` when the provider sent none. */
  finishReason: string | null;
  hops: number;
  /** Set when the hop limit stopped the loop: the seed's warning is appended to the answer. */
  hopLimit: number | null;
  /**
   * Set when a stop ended the turn while hop `hops`'s model attempt could not confirm it (its worker was lost):
   * that attempt may have announced text it never stored. With the answer, a `reset` of the hop and the hop's
   * stored text are stored as a new attempt of it, so every reader ends with the stored answer.
   */
  restateHop: boolean;
  persistence: PersistenceOptions;
}

export interface FailTurnInput {
  turnId: string;
  hop: number;
  errorType: string;
  message: string;
  persistence: PersistenceOptions;
}

/**
 * The seed's fail-fast validation plus the turn's first durable write: the user message, stored with the turn row at
 * claim time, moves into the conversation and the turn runs. Unknown model and unknown tools fail the turn before any
 * LLM call, without retries; so does data Postgres cannot store. Failures name only what the turn asked for; what the
 * worker serves goes to the log. Idempotent: a turn already running is found running, a finished one is `existing`.
 * The first LLM activity of a turn runs it before its request (no step of its own on the start path); the workflow
 * runs it as `prepareTurn` only when the turn ends before that activity did.
 */
export async function prepareTurnWith(deps: ActivityDeps, input: PrepareTurnInput): Promise<PrepareTurnResult> {
  const model = input.model ?? deps.models.default;
  try {
    if (!deps.models.allowed.includes(model)) throw new UnknownModelError(model, deps.models.allowed);
    const tools = deps.tools.subset(input.tools ?? deps.tools.names);
    const turn = await storageStep(() => ensureTurn(deps.pool, { ...input, model }));
    // Counted once: only the run whose transaction moved the turn out of the queue gets `leftQueue`.
    if (turn.leftQueue) deps.metrics?.turnStarted(turn.leftQueue);
    const existing =
      turn.status === 'running' ? null : ((await storageStep(() => storedResult(deps.pool, input.turnId))) ?? null);
    if (turn.status === 'failed') {
      throw ApplicationFailure.nonRetryable(`turn ${input.turnId} already failed`, 'turn.already_failed');
    }
    const forced = new Set([...(deps.approvalTools ?? []), ...(input.approvalTools ?? [])]);
    const approvals = tools.names.some(
      (name) => forced.has(name) || (deps.tools.get(name)?.approval ?? 'never') !== 'never',
    );
    return { model, tools: tools.names.map((name) => ({ name, policy: tools.policy(name)! })), existing, approvals };
  } catch (err: unknown) {
    if (err instanceof UnknownModelError) {
      deps.logger.warn({ turnId: input.turnId, model, served: err.known }, 'turn asked for an unknown model');
      throw ApplicationFailure.create({ message: err.message, type: err.failureType, nonRetryable: true });
    }
    if (err instanceof UnknownToolsError) {
      deps.logger.warn(
        { turnId: input.turnId, unknown: err.unknown, served: err.known },
        'turn asked for unknown tools',
      );
      throw ApplicationFailure.create({
        message: `unknown tool(s): ${err.unknown.map((n) => `"${n}"`).join(', ')}`,
        type: 'turn.unknown_tools',
        nonRetryable: true,
      });
    }
    throw err;
  }
}

/** Builds the turn lifecycle activities: prepare (validate + store the user message), complete, fail. */
export function createTurnActivities(deps: ActivityDeps) {
  /** {@link prepareTurnWith}, for a turn that ends before its first LLM activity prepared it. */
  function prepareTurn(input: PrepareTurnInput): Promise<PrepareTurnResult> {
    return prepareTurnWith(deps, input);
  }

  /**
   * The seed's `compact_deltas`: one final assistant message built from every hop's stored text (plus the
   * hop-limit warning), then the turn marked finished, then `hop_limit`/`done` announced — in that order,
   * so nothing is announced that is not durable.
   */
  async function completeTurn(input: CompleteTurnInput): Promise<ChatTurnResult> {
    return storageStep(() => completeTurnSteps(input));
  }

  async function completeTurnSteps(input: CompleteTurnInput): Promise<ChatTurnResult> {
    const result = await inTransaction(deps.pool, async (db) => {
      // Only a running turn is ended here. A turn another path already ended (a failure stored by `failTurn` that a
      // replay, taking the stop path after its worker was lost, did not see) keeps its end: no answer is added to it.
      const hops = await hopMessages(db, input.turnId);
      const warning = input.hopLimit !== null ? HOP_LIMIT_SEPARATOR + hopLimitWarning(input.hopLimit) : '';
      // A hop cut short with no message stored (stopped while its worker was lost) keeps the text its reader saw.
      const cut = !hops.some((h) => h.hop === input.hops);
      const cutShort = cut ? await announcedText(db, input.turnId, input.hops) : '';
      const content = hops.map((h) => h.content ?? '').join('') + cutShort + warning;
      // Every attempt the provider billed, retried ones included; a turn begun before usage was recorded per
      // attempt has only its hops' last attempts to go by.
      const usage = (await turnUsage(db, input.turnId)) ?? sumUsage(hops.map((h) => h.usage));
      const ended = await db.query<{ tenant_id: string; seconds: number }>(
        `UPDATE turns SET status = $2, finish_reason = $3, hops = $4, usage = $5, completed_at = now()
         WHERE id = $1 AND status = 'running'
         RETURNING tenant_id, extract(epoch FROM completed_at - created_at)::float8 AS seconds`,
        [input.turnId, input.status, input.finishReason, input.hops, usage && JSON.stringify(usage)],
      );
      if (ended.rows[0]) {
        await db.query(
          `INSERT INTO messages (tenant_id, conversation_id, turn_id, idem_key, kind, content, model, finish_reason, usage)
           SELECT tenant_id, conversation_id, id, $2, 'final', $3, model, $4, $5 FROM turns WHERE id = $1
           ON CONFLICT (idem_key) DO NOTHING`,
          [input.turnId, messageKeys.final(input.turnId), content, input.finishReason, usage && JSON.stringify(usage)],
        );
        if (cut && input.restateHop) await storeHopRestatement(db, input.turnId, input.hops, cutShort);
      }
      return { stored: await storedResult(db, input.turnId), ended: ended.rows[0] };
    });
    // Committed: counted by the one call whose update ended the turn, never by a retry of this activity.
    if (result.ended) {
      deps.metrics?.turnEnded({
        tenantId: result.ended.tenant_id,
        outcome: turnOutcome(input.status, input.finishReason),
        durationSeconds: result.ended.seconds,
      });
    }
    if (!result.stored) return refuseEnded(input);
    return announceEnd(input, result.stored);
  }

  /**
   * The turn ended failed before this completion (or has no row): its failure is announced again (keyed, so once)
   * in case the path that stored it was lost before announcing it, and the completion is refused for good: retrying
   * cannot change a stored end.
   */
  async function refuseEnded(input: CompleteTurnInput): Promise<never> {
    const failed = await announceStoredFailure(input.turnId, input.hops, input.persistence);
    throw ApplicationFailure.create({
      message: failed
        ? `turn ${input.turnId} already failed (${failed}); its completion was not stored`
        : `turn ${input.turnId} is not stored`,
      type: failed ? 'turn.already_failed' : 'turn.not_stored',
      details: failed ? [failed] : [],
      nonRetryable: true,
    });
  }

  /** Writes the `error` event of a turn stored as failed (keyed: once); its stored error type, or `null` if not failed. */
  async function announceStoredFailure(
    turnId: string,
    hop: number,
    persistence: PersistenceOptions,
  ): Promise<string | null> {
    const { rows } = await deps.pool.query<{ error_type: string | null }>(
      `SELECT coalesce(error->>'type', 'turn.failed') AS error_type FROM turns WHERE id = $1 AND status = 'failed'`,
      [turnId],
    );
    const errorType = rows[0]?.error_type;
    if (errorType == null) return null;
    const writer = await StreamWriter.open(deps.pool, {
      turnId,
      hop,
      attempt: Context.current().info.attempt,
      persistence,
      channels: deps.streamConnections,
    });
    try {
      await writer.event({ type: 'error', errorType, message: publicFailureMessage(errorType) }, eventKeys.error);
      await writer.close();
    } finally {
      writer.abandon();
    }
    return errorType;
  }

  async function announceEnd(input: CompleteTurnInput, result: ChatTurnResult): Promise<ChatTurnResult> {
    const writer = await StreamWriter.open(deps.pool, {
      turnId: input.turnId,
      hop: result.hops,
      attempt: Context.current().info.attempt,
      persistence: input.persistence,
      channels: deps.streamConnections,
    });
    try {
      if (input.hopLimit !== null) {
        await writer.event(
          {
            type: 'hop_limit',
            text: HOP_LIMIT_SEPARATOR + hopLimitWarning(input.hopLimit),
            finishReason: 'tool_limit_reached',
          },
          eventKeys.hopLimit,
        );
      }
      await writer.event(
        {
          type: 'done',
          status: result.status,
          messageId: result.messageId,
          finishReason: result.finishReason,
          usage: result.usage,
        },
        eventKeys.done,
      );
      await writer.close();
    } finally {
      writer.abandon();
    }
    // Only now that the final message is durable and announced do the deltas give way to it.
    await compactTextEvents(deps.pool, input.turnId);
    return result;
  }

  /**
   * Marks the turn failed and announces the error; stored messages stay as they are. The caller's `error` event
   * carries the failure's type and a fixed message for it; the failure's own message (which may hold Postgres or
   * provider details) is logged and kept on the turn row for operators.
   */
  async function failTurn(input: FailTurnInput): Promise<void> {
    const detail = storableText(input.message).slice(0, 4_000);
    deps.logger.warn({ turnId: input.turnId, errorType: input.errorType, detail }, 'turn failed');
    await storageStep(async () => {
      // `before` is the row as it was: only the call that ends it (running, or still queued when its preparation
      // failed) counts the turn. A turn another path already completed or cancelled keeps that end, and gets no
      // `error` event after its `done`.
      const { rows } = await deps.pool.query<{ tenant_id: string; was: string; seconds: number }>(
        `WITH before AS (SELECT id, status FROM turns WHERE id = $1 FOR UPDATE)
         UPDATE turns t SET status = CASE WHEN t.status IN ('queued', 'running') THEN 'failed' ELSE t.status END,
                            error = CASE WHEN t.status IN ('queued', 'running') THEN $2::jsonb ELSE t.error END,
                            completed_at = coalesce(t.completed_at, now())
         FROM before WHERE t.id = before.id
         RETURNING t.tenant_id, before.status AS was, extract(epoch FROM t.completed_at - t.created_at)::float8 AS seconds`,
        [input.turnId, JSON.stringify({ type: input.errorType, message: detail })],
      );
      const row = rows[0];
      // Only a turn started without its row (not through startTurn) and failing before storing it gets here.
      if (!row) throw ApplicationFailure.nonRetryable(`turn ${input.turnId} is not stored`, 'turn.not_stored');
      if (row.was === 'queued' || row.was === 'running') {
        deps.metrics?.turnEnded({ tenantId: row.tenant_id, outcome: 'failed', durationSeconds: row.seconds });
      }
      // The stored failure is the one announced: a second failure of a failed turn does not rename it.
      await announceStoredFailure(input.turnId, input.hop, input.persistence);
    });
  }

  return { prepareTurn, completeTurn, failTurn };
}

function sumUsage(usages: (Usage | null)[]): Usage | null {
  const present = usages.filter((u): u is Usage => u !== null);
  if (present.length === 0) return null;
  return present.reduce((a, b) => ({
    promptTokens: a.promptTokens + b.promptTokens,
    completionTokens: a.completionTokens + b.completionTokens,
    totalTokens: a.totalTokens + b.totalTokens,
  }));
}
