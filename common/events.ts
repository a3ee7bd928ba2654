import { z } from 'zod';
import { Usage } from './turn';

/**
 * Fields every stream event carries. `cursor` orders events within a turn (strictly increasing, not dense);
 * `prev` is the cursor of the event before it in the stream as its writer knew it, so a reader can tell a
 * gap (prev > last seen) from a stream that moved on past events of a dead attempt (prev < last seen).
 */
const Base = z.object({
  turnId: z.string(),
  cursor: z.number().int().positive(),
  prev: z.number().int().nonnegative(),
  hop: z.number().int().nonnegative(),
  attempt: z.number().int().positive(),
});

export const ToolCallSummary = z.object({ id: z.string(), name: z.string(), arguments: z.string() });
export type ToolCallSummary = z.infer<typeof ToolCallSummary>;

/**
 * The turn waits behind `runningTurnId` (and `position - 1` other queued turns) of its conversation; its own
 * events follow once it starts.
 */
export const QueuedEvent = Base.extend({
  type: z.literal('queued'),
  position: z.number().int().positive(),
  runningTurnId: z.string().nullable(),
});
/** A piece of answer text. Apply in order; drop it if a later `reset` supersedes its (hop, attempt). */
export const TextEvent = Base.extend({ type: z.literal('text'), text: z.string() });
/** The model asked for tools; the seed's "Executing N tool(s)...". */
export const ToolCallsEvent = Base.extend({
  type: z.literal('tool_calls'),
  message: z.string(),
  calls: z.array(ToolCallSummary),
});
export const ToolResultEvent = Base.extend({
  type: z.literal('tool_result'),
  toolCallId: z.string(),
  name: z.string(),
  content: z.string(),
  isError: z.boolean(),
});
/** Every event of this hop with attempt ≤ `supersededAttempt` is void: a retried LLM attempt starts over. */
export const ResetEvent = Base.extend({ type: z.literal('reset'), supersededAttempt: z.number().int().positive() });
/** The hop limit stopped the tool loop; `text` is appended to the answer (it starts with the separator). */
export const HopLimitEvent = Base.extend({
  type: z.literal('hop_limit'),
  text: z.string(),
  finishReason: z.literal('tool_limit_reached'),
});
export const DoneEvent = Base.extend({
  type: z.literal('done'),
  status: z.enum(['completed', 'cancelled']),
  messageId: z.string(),
  /** `null` when the provider sent no finish reason (it ended with `[DONE]` alone). */
  finishReason: z.string().nullable(),
  usage: Usage.nullable(),
});
/**
 * A tool call waits for a person's approval (`POST /v1/turns/:turnId/approvals/:approvalId`); `arguments` are exactly
 * what will run if it is approved. `reason` is the tool's own, when it gave one.
 */
export const ApprovalRequestedEvent = Base.extend({
  type: z.literal('approval_requested'),
  approvalId: z.string(),
  toolCallId: z.string(),
  toolName: z.string(),
  arguments: z.string(),
  reason: z.string().nullable(),
  /** ISO 8601: past it the call is denied (`decidedBy: timeout`). */
  expiresAt: z.string(),
});
/** Who ended a wait for approval: the person, the clock, a stop, or a newer message of the user. */
export const ApprovalDecider = z.enum(['user', 'timeout', 'stop', 'superseded']);
export type ApprovalDecider = z.infer<typeof ApprovalDecider>;
/** A wait for approval ended: an approved call runs next; a denied one gets a result saying so and never runs. */
export const ApprovalDecidedEvent = Base.extend({
  type: z.literal('approval_decided'),
  approvalId: z.string(),
  toolCallId: z.string(),
  approved: z.boolean(),
  /** The person's reason (a user decision), or `null`. */
  reason: z.string().nullable(),
  decidedBy: ApprovalDecider,
});
export const ErrorEvent = Base.extend({ type: z.literal('error'), errorType: z.string(), message: z.string() });

export const TurnEvent = z.discriminatedUnion('type', [
  QueuedEvent,
  TextEvent,
  ToolCallsEvent,
  ToolResultEvent,
  ResetEvent,
  HopLimitEvent,
  DoneEvent,
  ErrorEvent,
  ApprovalRequestedEvent,
  ApprovalDecidedEvent,
]);
export type TurnEvent = z.infer<typeof TurnEvent>;
export type TurnEventType = TurnEvent['type'];

/** An event as a writer creates it, before the stream log assigns turnId/cursor/prev. */
export type TurnEventBody = TurnEvent extends infer E
  ? E extends TurnEvent
    ? Omit<E, 'turnId' | 'cursor' | 'prev' | 'hop' | 'attempt'>
    : never
  : never;

/** True once a stream has nothing more to say. */
export function isTerminal(event: TurnEvent): boolean {
  return event.type === 'done' || event.type === 'error';
}

/**
 * Folds events into the answer text the way every client must: text appends, `reset` drops the superseded
 * attempts of its hop, `hop_limit` appends its warning. The result equals the stored final message.
 */
export class AnswerAssembler {
  private readonly pieces: { hop: number; attempt: number; text: string }[] = [];

  apply(event: TurnEvent): void {
    if (event.type === 'text' || event.type === 'hop_limit') {
      this.pieces.push({ hop: event.hop, attempt: event.attempt, text: event.text });
    } else if (event.type === 'reset') {
      for (let i = this.pieces.length - 1; i >= 0; i--) {
        const piece = this.pieces[i]!;
        if (piece.hop === event.hop && piece.attempt <= event.supersededAttempt) this.pieces.splice(i, 1);
      }
    }
  }

  get text(): string {
    return this.pieces.map((p) => p.text).join('');
  }
}
