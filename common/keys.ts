/**
 * Every logical key turnflow derives from Temporal identity, in one place. Each write keyed by one of these is
 * stored once whichever attempt makes it (`ON CONFLICT DO NOTHING` on `messages.idem_key` or
 * `turn_events (turn_id, event_key)`), and a tool's side effects run under one key per call.
 *
 * The spellings differ by what they key, and they are stored (in rows and in the systems tools touch), so they are
 * part of the data format: changing one would make an activity retried across a deploy miss what its earlier
 * attempt stored, and write it twice. Add new keys; never respell an existing one.
 */

/** What identifies one tool call of a turn: the model may reuse call ids across hops, so the hop is part of it. */
export interface ToolCallIdentity {
  readonly turnId: string;
  readonly hop: number;
  readonly toolCallId: string;
}

/** Keys of a turn's rows in `messages` (`idem_key`). */
export const messageKeys = {
  /** The user message that started the turn. */
  user: (turnId: string) => `${turnId}:user`,
  /** The assistant message of one hop (a later attempt replaces an earlier one's). */
  hop: (turnId: string, hop: number) => `${turnId}:hop:${hop}`,
  /** The stored result of one tool call. */
  toolResult: ({ turnId, hop, toolCallId }: ToolCallIdentity) => `${turnId}:tool:${hop}:${toolCallId}`,
  /** The turn's final assistant message. */
  final: (turnId: string) => `${turnId}:final`,
} as const;

/** Keys of a turn's non-text events in `turn_events` (`event_key`, unique within the turn). */
export const eventKeys = {
  /** The `reset` that attempt `attempt` of a hop announces when it supersedes the one before. */
  reset: (hop: number, attempt: number) => `reset:${hop}:${attempt}`,
  /** "Executing N tool(s)..." of one LLM attempt. */
  toolCalls: (hop: number, attempt: number) => `tool_calls:${hop}:${attempt}`,
  /** The result of one tool call (the turn is the row's own). */
  toolResult: ({ hop, toolCallId }: Omit<ToolCallIdentity, 'turnId'>) => `tool_result:${hop}:${toolCallId}`,
  /** The announcement that one tool call waits for approval. */
  approvalRequested: ({ hop, toolCallId }: Omit<ToolCallIdentity, 'turnId'>) =>
    `approval_requested:${hop}:${toolCallId}`,
  /** The one decision of one approval. */
  approvalDecided: (approvalId: string) => `approval_decided:${approvalId}`,
  /** The turn's one `hop_limit`, `done` and `error` events. */
  hopLimit: 'hop_limit',
  done: 'done',
  error: 'error',
} as const;

/**
 * The idempotency key a tool receives for a call: `tool:<turnId>:<hop>:<toolCallId>`. Identical on every retry of
 * the call, different for every other call.
 */
export function toolIdempotencyKey({ turnId, hop, toolCallId }: ToolCallIdentity): string {
  return `tool:${turnId}:${hop}:${toolCallId}`;
}
