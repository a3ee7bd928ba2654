import type { Span } from '@opentelemetry/api';
import { Context, cancellationDetails } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import {
  eventKeys,
  StorableTextStream,
  storableText,
  type PersistenceOptions,
  type ToolCallSummary,
  type Usage,
} from '../common';
import {
  captured,
  endLlmAttemptSpan,
  failSpan,
  GenAi,
  linkToReplacedAttempt,
  startLlmAttemptSpan,
  type ActivityTracing,
} from '../tracing';
import type { ActivityDeps } from './deps';
import {
  ChatStreamError,
  openChatChunkStream,
  providerErrorOf,
  readChatStream,
  tokenCounts,
  toLlmFailure,
  type AssembledMessage,
} from './llm';
import { recordAttemptSpan } from './repo/attempt-spans';
import { recordProviderFailure } from './repo/llm-failures';
import {
  recordAttemptUsage,
  recordLostAttempts,
  turnTokens,
  type AttemptUsage,
  type RecordedAttempt,
} from './repo/usage';
import { loadContext, saveHopMessage } from './repo/messages';
import { sqlState, toStorageFailure } from './repo/storage-failure';
import { StreamWriter } from './stream/writer';
import { prepareTurnWith, type PrepareTurnInput, type PrepareTurnResult } from './turn-activities';

/** Settings of one hop: ids and settings only; the transcript is loaded from Postgres. */
interface HopSettings {
  turnId: string;
  hop: number;
  /**
   * Whether tool calls of this hop will run (false at the hop limit): only then are they announced
   * (`tool_calls`, "Executing N tool(s)..."). @default true
   */
  toolsMayRun?: boolean;
  persistence: PersistenceOptions;
  logInitialResponse: boolean;
  /** The turn's token budget: reached, the hop ends the turn (`budget_exhausted`) instead of running tools. */
  maxTokens?: number;
}

/** One hop with its model and the tools offered to the model this turn. */
type Hop = HopSettings & { model: string; tools: string[] };

/**
 * Input of `streamCompletion`. The turn's first hop carries the turn's input and prepares the turn before the model's
 * request ({@link prepareTurnWith}: the first workflow task then only schedules this activity); a later hop carries
 * the model and tools the first one prepared.
 */
export type StreamCompletionInput = HopSettings & ({ prepare: PrepareTurnInput } | { model: string; tools: string[] });

/** What the workflow needs from a hop: ids, names and counts, never the text. */
export interface StreamCompletionResult {
  messageId: string;
  /** Complete tool calls, in the model's order (arguments stay in Postgres). */
  toolCalls: { id: string; name: string }[];
  finishReason: string | null;
  usage: Usage | null;
  /** Characters of answer text this hop produced. */
  chars: number;
  /** The caller stopped generation; the partial answer was stored. */
  cancelled: boolean;
  /**
   * What the first hop prepared (its input had `prepare`). With `existing` set the turn had already finished: no
   * request was made, and the other fields are empty.
   */
  prepared?: PrepareTurnResult;
}

/** Progress the LLM activity heartbeats: enough for the next attempt and for an operator. */
export interface LlmHeartbeat {
  hop: number;
  attempt: number;
  cursor: number;
  committedCursor: number;
  chars: number;
}

/** Builds the `streamCompletion` activity: one hop of the model, streamed to the turn's event log. */
export function createLlmActivity(deps: ActivityDeps) {
  const idleTimeoutMs = deps.llmIdleTimeoutMs ?? 60_000;
  const heartbeatIntervalMs = deps.heartbeatIntervalMs ?? 1_000;

  return async function streamCompletion(request: StreamCompletionInput): Promise<StreamCompletionResult> {
    const ctx = Context.current();
    const attempt = ctx.info.attempt;
    const metrics = deps.metrics;
    // The turn's preparation (first hop) then the context, the writer's segment and (for the first token's latency)
    // the turn's age: independent reads, so one stretch of Postgres round trips before the model's request.
    const preparing = 'prepare' in request ? prepareTurnWith(deps, request.prepare) : undefined;
    const agedAt = performance.now();
    const [context, opened, age] = await Promise.allSettled([
      (preparing ?? Promise.resolve(undefined)).then((prepared) =>
        prepared?.existing ? null : loadContext(deps.pool, request.turnId),
      ),
      StreamWriter.open(deps.pool, {
        turnId: request.turnId,
        hop: request.hop,
        attempt,
        persistence: request.persistence,
        channels: deps.streamConnections,
      }),
      // The turn's age by the database's clock, when this attempt of hop 0 began.
      metrics && request.hop === 0 ? turnAgeSeconds(deps, request.turnId).catch(() => null) : null,
    ]);
    if (context.status === 'rejected' || opened.status === 'rejected') {
      if (opened.status === 'fulfilled') opened.value.abandon();
      throw context.status === 'rejected' ? context.reason : (opened as PromiseRejectedResult).reason;
    }
    const writer = opened.value;
    // Settled above (the context waited for it).
    const prepared = preparing ? await preparing : undefined;
    const preparedPart = prepared ? { prepared } : {};
    if (context.value === null) {
      // Already finished (a start after Temporal forgot the run): its answer is stored, and nothing is asked.
      writer.abandon();
      return {
        messageId: '',
        toolCalls: [],
        finishReason: null,
        usage: null,
        chars: 0,
        cancelled: false,
        ...preparedPart,
      };
    }
    const messages = context.value;
    const input: Hop =
      'prepare' in request
        ? { ...request, model: prepared!.model, tools: prepared!.tools.map((t) => t.name) }
        : request;
    const turnAge = age.status === 'fulfilled' ? age.value : null;
    // Read once: the definitions sent and the fingerprints stored with the hop are of the same tools.
    const { definitions: tools, fingerprints: toolFingerprints } = deps.tools.subset(input.tools).offered();
    const traced = deps.tracing ? traceAttempt(deps, deps.tracing, input, attempt) : undefined;
    if (traced) {
      await traced.linked;
      captured(traced.tracing, traced.span, GenAi.inputMessages, () => messages);
    }

    let chars = 0;
    // One periodic tick heartbeats and watches for a stall, so the per-token path only stamps a time.
    // A silent stream is a stall: abort it so Temporal retries the attempt, instead of waiting forever.
    const idle = new AbortController();
    let lastDeltaAt = Date.now();
    const tick = () => {
      if (Date.now() - lastDeltaAt >= idleTimeoutMs) idle.abort();
      ctx.heartbeat({ hop: input.hop, attempt, ...writer.position, chars } satisfies LlmHeartbeat);
    };
    // No heartbeat at the start: each one that reaches the server is a billable action, and a hop shorter than the
    // interval needs none (the heartbeat timeout runs from the attempt's start either way, and a stop is delivered
    // with the first one, within the interval, as before).
    const ticker = setInterval(tick, Math.min(heartbeatIntervalMs, Math.max(50, idleTimeoutMs / 4)));

    // Counted once: only the call whose write took effect reports it.
    const counted = (recorded: RecordedAttempt | null) => {
      if (recorded) metrics?.attemptRecorded(recorded);
    };
    const startedAt = performance.now();
    let firstDeltaSeen = false;
    let partial = '';
    /** Set once the provider began a response: from then on the attempt may be billed. */
    let streamed = false;
    const usageOf = (outcome: AttemptUsage['outcome'], usage: Record<string, unknown> | null): AttemptUsage => ({
      turnId: input.turnId,
      hop: input.hop,
      attempt,
      model: input.model,
      outcome,
      streamed,
      tokens: tokenCounts(usage),
    });
    // Model text Postgres cannot store (U+0000, lone surrogates) is replaced before it is shown, so the caller's
    // text and the stored text stay equal.
    const storable = new StorableTextStream();
    const show = (text: string) => {
      if (text === '') return;
      if (!firstDeltaSeen) {
        firstDeltaSeen = true;
        if (turnAge)
          metrics?.firstToken({
            tenantId: turnAge.tenantId,
            seconds: turnAge.seconds + (performance.now() - agedAt) / 1000,
          });
      }
      partial += text;
      chars += text.length;
      writer.text(text);
    };
    // A stopped or failed attempt is recorded best-effort: when Postgres is away too, the next attempt records it
    // as lost (a stop has no next attempt: its usage is then missing, which `/v1/usage` cannot tell apart).
    const recordFailedAttempt = (u: AttemptUsage) =>
      recordAttemptUsage(deps.pool, u).then(
        (recorded) => counted(recorded),
        (err: unknown) =>
          deps.logger.warn({ turnId: input.turnId, hop: input.hop, attempt, err }, 'usage not recorded'),
      );
    try {
      if (attempt > 1) {
        const reset = await writer.event(
          { type: 'reset', supersededAttempt: attempt - 1 },
          eventKeys.reset(input.hop, attempt),
        );
        if (reset) metrics?.attemptReset({ tenantId: turnAge?.tenantId ?? null, model: input.model });
        // Earlier attempts whose worker died before recording them are recorded as lost, never silently dropped.
        const lost = await recordLostAttempts(deps.pool, {
          turnId: input.turnId,
          hop: input.hop,
          attempt,
          model: input.model,
        });
        for (const row of lost) counted(row);
      }
      // What the turn spent before this attempt: with it, a usage reported mid-stream can end the stream once the
      // turn's counted tokens reach its budget (most providers report usage only at the end: see docs/operating.md).
      const maxTokens = input.maxTokens;
      const spentBefore = maxTokens === undefined ? 0 : await turnTokens(deps.pool, input.turnId);
      const overBudget = (usage: Record<string, unknown>) => {
        const counts = tokenCounts(usage);
        return counts !== null && spentBefore + counts.inputTokens + counts.outputTokens >= maxTokens!;
      };
      const signal = AbortSignal.any([ctx.cancellationSignal, idle.signal]);
      // Read from the raw response: openai-node's Stream hides whether `data: [DONE]` arrived.
      const stream = await openChatChunkStream(
        deps.openai.chat.completions.create(
          {
            model: input.model,
            messages,
            stream: true,
            stream_options: { include_usage: true },
            ...(tools.length > 0 ? { tools } : {}),
          },
          { signal },
        ),
      );
      streamed = true;
      const read = await readChatStream(stream, {
        signal,
        toolCallIdPrefix: `call_h${input.hop}_`,
        ...(maxTokens === undefined ? {} : { stopOnUsage: overBudget }),
        onDelta: (delta) => {
          lastDeltaAt = Date.now();
          // A refusal is what the user must see in place of an answer; reasoning stays out of the answer.
          if (delta.kind === 'reasoning') return;
          show(storable.push(delta.text));
        },
      });
      // Recorded the moment it is known, before anything else can fail: the provider billed this response.
      counted(await recordAttemptUsage(deps.pool, usageOf('ok', read.message.usage)));
      traced?.end((span) => {
        captured(traced.tracing, span, GenAi.outputMessages, () => [
          { role: 'assistant', content: answerText(read.message), tool_calls: read.message.toolCalls },
        ]);
        endLlmAttemptSpan(span, { tokens: tokenCounts(read.message.usage), finishReason: read.message.finishReason });
      });
      metrics?.llmCall({ model: input.model, seconds: (performance.now() - startedAt) / 1000, errorType: null });
      show(storable.end());
      // Reached, the budget ends the turn here: the model's tool calls are neither announced nor run nor stored.
      const exhausted =
        read.stopped || (maxTokens !== undefined && (await turnTokens(deps.pool, input.turnId)) >= maxTokens);
      const message = exhausted ? { ...read.message, toolCalls: [] } : read.message;
      for (const dropped of read.droppedToolCalls) {
        deps.logger.warn({ turnId: input.turnId, hop: input.hop, dropped }, 'dropped an incomplete tool call');
      }
      if (input.hop === 0 && (input.logInitialResponse || deps.logLlmReplies)) logInitialResponse(deps, input, message);

      const answer = answerText(message);
      const content = answer === null ? null : storableText(answer);
      const messageId = await saveHopMessage(deps.pool, {
        turnId: input.turnId,
        hop: input.hop,
        attempt,
        content,
        toolCalls: message.toolCalls,
        finishReason: message.finishReason,
        usage: normaliseUsage(message.usage),
        model: input.model,
        toolFingerprints,
      });
      if (message.toolCalls.length > 0 && input.toolsMayRun !== false) {
        const calls: ToolCallSummary[] = message.toolCalls.map((c) => ({
          id: c.id,
          name: c.function.name,
          arguments: c.function.arguments,
        }));
        await writer.event(
          { type: 'tool_calls', message: `Executing ${calls.length} tool(s)...`, calls },
          eventKeys.toolCalls(input.hop, attempt),
        );
      }
      await writer.close();
      return {
        messageId,
        toolCalls: message.toolCalls.map((c) => ({ id: c.id, name: c.function.name })),
        finishReason: exhausted ? 'budget_exhausted' : message.finishReason,
        usage: normaliseUsage(message.usage),
        chars,
        cancelled: false,
        ...preparedPart,
      };
    } catch (err: unknown) {
      const reported = err instanceof ChatStreamError ? err.partial.usage : null;
      if (cancellationDetails()?.cancelRequested) {
        await recordFailedAttempt(usageOf('cancelled', reported));
        traced?.end((span) => endLlmAttemptSpan(span, { tokens: tokenCounts(reported), finishReason: 'cancelled' }));
        // Stop generating: keep what the user already saw as this hop's answer.
        const messageId = await saveHopMessage(deps.pool, {
          turnId: input.turnId,
          hop: input.hop,
          attempt,
          content: partial || null,
          toolCalls: [],
          finishReason: 'cancelled',
          usage: null,
          model: input.model,
        });
        await writer.close();
        return {
          messageId,
          toolCalls: [],
          finishReason: 'cancelled',
          usage: null,
          chars,
          cancelled: true,
          ...preparedPart,
        };
      }
      await writer.close().catch(() => writer.abandon());
      await recordFailedAttempt(usageOf('failed', reported));
      if (ctx.cancellationSignal.aborted) throw err;
      // A write Postgres refused is not the provider's fault (and retrying the same data cannot help).
      if (sqlState(err) !== undefined) throw toStorageFailure(err);
      const failure = idle.signal.aborted
        ? ApplicationFailure.retryable(`the model sent nothing for ${idleTimeoutMs} ms`, 'llm.stalled')
        : toLlmFailure(err);
      metrics?.llmCall({
        model: input.model,
        seconds: (performance.now() - startedAt) / 1000,
        errorType: failure.type ?? 'llm.unknown',
      });
      traced?.end((span) => failSpan(span, failure.type ?? 'llm.unknown', failure.message, tokenCounts(reported)));
      // The provider's own words go to the worker's log only; the failure Temporal records holds none of them.
      const original = providerErrorOf(failure);
      if (original) {
        deps.logger.warn(
          { turnId: input.turnId, hop: input.hop, type: failure.type, err: original },
          'LLM call failed',
        );
      }
      throw await withinFailureBudget(deps, input, attempt, failure);
    } finally {
      clearInterval(ticker);
      writer.abandon();
      // Anything else that ended the attempt (a stop, a write Postgres refused) ends its span too.
      traced?.end((span) =>
        failSpan(span, cancellationDetails()?.cancelRequested ? 'cancelled' : 'llm.aborted', 'ended'),
      );
    }
  };
}

/** The span of one LLM attempt, linked to the attempt it replaces; ended once. */
interface TracedAttempt {
  tracing: ActivityTracing;
  span: Span;
  /** Settles once the attempt's span is stored and linked to the replaced attempt's (never rejects). */
  linked: Promise<void>;
  end(fn: (span: Span) => void): void;
}

/**
 * Starts the attempt's `chat <model>` span and stores its ids with the attempt before the provider is called, so
 * the next attempt can link to it even if this worker dies mid-stream; links it to the span of the attempt before.
 */
function traceAttempt(deps: ActivityDeps, tracing: ActivityTracing, input: Hop, attempt: number): TracedAttempt {
  const span = startLlmAttemptSpan(tracing, { turnId: input.turnId, hop: input.hop, attempt, model: input.model });
  let ended = false;
  const ids = span.spanContext();
  const linked = span.isRecording()
    ? recordAttemptSpan(deps.pool, { turnId: input.turnId, hop: input.hop, attempt, ...ids }).then(
        (replaced) => {
          if (replaced) linkToReplacedAttempt(span, replaced, attempt - 1);
        },
        (err: unknown) => deps.logger.warn({ turnId: input.turnId, hop: input.hop, err }, 'attempt span not stored'),
      )
    : Promise.resolve();
  return {
    tracing,
    span,
    linked,
    end(fn) {
      if (ended) return;
      ended = true;
      fn(span);
    },
  };
}

/** The turn's tenant and how long ago it was accepted, by the database's clock (so no clock skew enters it). */
async function turnAgeSeconds(
  deps: ActivityDeps,
  turnId: string,
): Promise<{ tenantId: string; seconds: number } | null> {
  const { rows } = await deps.pool.query<{ tenant_id: string; age: number }>(
    `SELECT tenant_id, extract(epoch FROM now() - created_at)::float8 AS age FROM turns WHERE id = $1`,
    [turnId],
  );
  const row = rows[0];
  return row ? { tenantId: row.tenant_id, seconds: row.age } : null;
}

/** The `type` of the failure that ends a hop whose provider failures used up the budget. */
export const RETRIES_EXHAUSTED = 'llm.retries_exhausted';

/**
 * Counts a retryable provider failure against the hop's budget ({@link ActivityDeps.llmFailureBudget}) and
 * returns what to throw: the failure itself while budget remains, else a non-retryable
 * `llm.retries_exhausted` caused by it. The count lives in Postgres because attempts of a hop may run on
 * different workers; a dead worker records nothing, so worker loss never spends this budget (the workflow
 * bounds it by time). When the count cannot be written (Postgres away), the failure is retried uncounted.
 */
async function withinFailureBudget(
  deps: ActivityDeps,
  input: Hop,
  attempt: number,
  failure: ApplicationFailure,
): Promise<ApplicationFailure> {
  if (failure.nonRetryable) return failure;
  const budget = deps.llmFailureBudget ?? 8;
  const failures = await recordProviderFailure(deps.pool, {
    turnId: input.turnId,
    hop: input.hop,
    attempt,
    type: failure.type ?? 'llm.unknown',
  }).catch((err: unknown) => {
    deps.logger.warn({ turnId: input.turnId, hop: input.hop, err }, 'could not count an LLM failure');
    return 0;
  });
  if (failures < budget) return failure;
  return ApplicationFailure.create({
    type: RETRIES_EXHAUSTED,
    nonRetryable: true,
    message: `the model failed ${failures} time(s) on hop ${input.hop}; last: ${failure.message}`,
    cause: failure,
    details: [{ failures, budget, lastType: failure.type ?? null }],
  });
}

/** The hop's answer text: content, or the refusal when the model refused. */
function answerText(message: AssembledMessage): string | null {
  if (message.content !== null && message.refusal !== null) return message.content + message.refusal;
  return message.content ?? message.refusal;
}

/** Providers name usage fields alike (OpenAI's shape); anything else is ignored. */
export function normaliseUsage(usage: Record<string, unknown> | null): Usage | null {
  if (!usage) return null;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.trunc(v) : 0);
  const promptTokens = n(usage.prompt_tokens);
  const completionTokens = n(usage.completion_tokens);
  const totalTokens = n(usage.total_tokens) || promptTokens + completionTokens;
  return { promptTokens, completionTokens, totalTokens };
}

/** The seed's `log_initial_response`: the first reply with its model; never the client's configuration. */
function logInitialResponse(deps: ActivityDeps, input: Hop, message: AssembledMessage): void {
  deps.logger.info(
    {
      turnId: input.turnId,
      model: input.model,
      message: {
        content: message.content,
        tool_calls: message.toolCalls,
        finish_reason: message.finishReason,
        usage: message.usage,
      },
    },
    'Streaming initial response',
  );
}
