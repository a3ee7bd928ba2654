import { z } from 'zod';
import { ExternalId } from './external-id';
import { DOUBLE_TEXTING_POLICIES, TURN_LIMITS } from './turn-input';
import { hasLoneSurrogate } from './text';

/**
 * The seed's batched delta persistence knobs. Live deltas are never held back by them: they only bound how
 * often text rows are written to the stream log.
 */
export const PersistenceOptions = z.object({
  /**
   * Store text deltas while the model streams, so a caller reconnecting mid-hop resumes at once. Off, a hop's
   * text is stored in one write when the hop ends, and a reconnecting caller catches up then. @default true
   */
  persistDeltas: z.boolean().default(true),
  /** Flush buffered deltas at least this often. @default 200 */
  intervalMs: z.number().int().min(0).max(TURN_LIMITS.intervalMs).default(200),
  /** Flush as soon as this many characters are buffered (0 = no size trigger). @default 1024 */
  minChars: z.number().int().min(0).max(TURN_LIMITS.minChars).default(1024),
});
export type PersistenceOptions = z.infer<typeof PersistenceOptions>;

/** What a caller asks for when starting a turn (validated at the client and again by the workflow's first activity). */
export const StartTurnRequest = z.object({
  conversationId: ExternalId,
  requestId: ExternalId,
  /** The user's message for this turn. */
  message: z
    .string()
    .min(1, 'must not be empty')
    .max(100_000, 'must be at most 100000 characters')
    // Postgres text cannot hold U+0000, and a lone surrogate would be stored as U+FFFD: refuse both up front.
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL (U+0000) characters')
    .refine((s) => !hasLoneSurrogate(s), 'must be well-formed Unicode (no lone surrogates)'),
  /** Tenant that owns the conversation. @default 'default' */
  tenantId: ExternalId.default('default'),
  /** Model to use; must be one the worker serves. @default the worker's default model */
  model: z.string().min(1).max(TURN_LIMITS.modelLength).optional(),
  /** Names of the tools the model may call; omitted = every registered tool, [] = none. */
  tools: z.array(z.string().min(1).max(TURN_LIMITS.toolNameLength)).max(TURN_LIMITS.tools).optional(),
  /**
   * Tools every call of which needs a person's approval this turn, on top of those the worker requires it for
   * (a request can add approvals, never waive one). Each must be a tool the worker serves.
   */
  approvalTools: z.array(z.string().min(1).max(TURN_LIMITS.toolNameLength)).max(TURN_LIMITS.tools).optional(),
  /** Tool rounds allowed before the turn stops with `tool_limit_reached`. @default 5 */
  maxHops: z.number().int().min(0).max(TURN_LIMITS.maxHops).default(5),
  persistence: PersistenceOptions.default({ persistDeltas: true, intervalMs: 200, minChars: 1024 }),
  /**
   * Token budget of the turn: once its counted input + output tokens (every attempt, and the usage a provider
   * reports mid-stream) reach `maxTokens`, it stops (mid-stream when the provider reports usage there, else at the
   * next hop boundary) with `finish_reason: budget_exhausted`, its answer so far kept. @default none
   */
  budget: z.strictObject({ maxTokens: z.number().int().min(1).max(TURN_LIMITS.maxTokens) }).optional(),
  /** Log the first LLM reply of the turn (the seed's `log_initial_response`). @default false */
  logInitialResponse: z.boolean().default(false),
});
export type StartTurnRequest = z.input<typeof StartTurnRequest>;

/**
 * What happens to a turn sent while another turn of the same conversation runs (the request's double-texting
 * policy): `enqueue` waits for it, `reject` refuses (409), `interrupt` stops it (`finish_reason: interrupted`) and
 * then runs, `steer` joins the running turn at its next hop boundary (or waits, if that turn is in its final hop).
 */
export const DoubleTextingPolicy = z.enum(DOUBLE_TEXTING_POLICIES);
export type DoubleTextingPolicy = z.infer<typeof DoubleTextingPolicy>;

/**
 * The workflow's single input object: the validated request plus the derived turn id, without the user's message.
 * No user text enters Temporal (design invariant 12): the message is stored with the turn row when the caller claims
 * the turn, and the turn's first activity reads it from there.
 */
export const ChatTurnInput = StartTurnRequest.omit({ message: true }).extend({
  turnId: z.string().min(1),
  /**
   * Set by the conversation when a later turn interrupted this one before it began: the user message is stored
   * and the turn ends at once, empty, with `finish_reason: interrupted` (no LLM call). @default false
   */
  interrupted: z.boolean().optional(),
});
export type ChatTurnInput = z.infer<typeof ChatTurnInput>;

/** Why a turn ended. Provider finish reasons (`stop`, `length`, `content_filter`, …) pass through. */
export type TurnFinishReason = 'tool_limit_reached' | 'cancelled' | 'interrupted' | (string & {});

/**
 * The turn's own usage: every LLM attempt of every hop, retried attempts included (what the provider billed), as
 * recorded once in the usage table; `null` when no attempt was recorded. The fields after `totalTokens` are absent
 * on turns that finished before usage was recorded per attempt (their figures then cover each hop's last attempt).
 */
export const Usage = z.object({
  /** Input tokens. */
  promptTokens: z.number().int().nonnegative(),
  /** Output tokens (reasoning included, as providers count them). */
  completionTokens: z.number().int().nonnegative(),
  /** `promptTokens + completionTokens`. */
  totalTokens: z.number().int().nonnegative(),
  /** Of the input tokens, those the provider served from its prompt cache. */
  cachedInputTokens: z.number().int().nonnegative().optional(),
  /** Of the output tokens, those spent on reasoning. */
  reasoningTokens: z.number().int().nonnegative().optional(),
  /** LLM attempts made, retried and failed ones included. */
  llmAttempts: z.number().int().nonnegative().optional(),
  /** Attempts whose response carried no usage, or whose worker died before it could record it. */
  responsesWithoutUsage: z.number().int().nonnegative().optional(),
});
export type Usage = z.infer<typeof Usage>;

/** What one provider response reported, normalised across providers. */
export interface TokenCounts {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  reasoningTokens: number;
}

/** What the workflow returns: small, by design — the answer text lives in Postgres (message `messageId`). */
export interface ChatTurnResult {
  turnId: string;
  conversationId: string;
  status: 'completed' | 'cancelled';
  /** Id of the stored final assistant message. */
  messageId: string;
  /** `null` when the provider ended the stream with `[DONE]` but no `finish_reason`. */
  finishReason: TurnFinishReason | null;
  /** Tool rounds executed. */
  hops: number;
  model: string;
  usage: Usage | null;
}

/** Progress a running turn reports through the `progress` query and the activities' heartbeats. */
export interface TurnProgress {
  phase: 'preparing' | 'streaming' | 'tools' | 'awaiting_approval' | 'completing' | 'done';
  hop: number;
  model: string;
  toolsRunning: string[];
  cancelRequested: boolean;
}

/** The warning the seed appends to the answer when the model still wants tools at the hop limit. */
export function hopLimitWarning(maxHops: number): string {
  return `Stopped after ${maxHops} tool round${maxHops === 1 ? '' : 's'}: the tool call limit for this turn was reached.`;
}

/** Separator placed before the hop-limit warning in the answer (the seed's `"\n\n" + warning_msg`). */
export const HOP_LIMIT_SEPARATOR = '\n\n';
