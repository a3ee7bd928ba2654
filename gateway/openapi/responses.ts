import { z } from 'zod';
import type { ApprovalOutcome, ConversationMessage, PendingApprovalView, UsageReport } from '../../client';
import { ApprovalDecider, DoubleTextingPolicy, TurnEvent } from '../../common';
import type { ConversationTurns } from '../../workflows';

/*
 * Schemas of the gateway's JSON responses, for the OpenAPI document. Requests are described by the very schemas that
 * validate them; responses are built from the client's types, so each schema here is checked against its type at
 * compile time (`Same` below): a field added to the type and not here, or the other way round, fails `tsc`.
 */

/** `T` with `undefined` dropped from its optional fields (zod's `?: X | undefined` against a type's `?: X`). */
type Defined<T> = { [K in keyof T]: Exclude<T[K], undefined> };
/** True when `A` and `B` are assignable both ways. */
type Same<A, B> = [Defined<A>] extends [Defined<B>] ? ([Defined<B>] extends [Defined<A>] ? true : false) : false;
/** Compiles only for `true`. */
function same<T extends true>(): T | undefined {
  return undefined;
}

/** An event of a turn's stream: the `data:` of each SSE frame (`id:` is its cursor, `event:` its type). */
export const TurnEventSchema = TurnEvent.meta({
  id: 'TurnEvent',
  description:
    'One event of a turn. Over SSE: `id:` is its cursor (send it back as `Last-Event-ID` to resume), `event:` its ' +
    '`type`, `data:` this object as JSON. A stream whose turn closed without `done` or `error` ends with a final ' +
    '`event: error` without an `id:`.',
});

const ConversationTurn = z
  .strictObject({
    turnId: z.string(),
    requestId: z.string(),
    policy: DoubleTextingPolicy,
    acceptedAt: z.string().meta({ description: 'ISO time the conversation accepted it.' }),
  })
  .meta({ id: 'ConversationTurn' });

/** `GET /v1/conversations/:id/turns`. */
export const ConversationTurnsResponse = z
  .strictObject({
    conversationId: z.string(),
    running: ConversationTurn.nullable(),
    queued: z.array(ConversationTurn),
    steering: z.array(ConversationTurn).meta({ description: 'Steered requests waiting for the next hop boundary.' }),
  })
  .meta({ id: 'ConversationTurns' });
same<Same<Omit<z.infer<typeof ConversationTurnsResponse>, 'conversationId'>, ConversationTurns>>();

const ConversationMessageSchema = z
  .strictObject({
    id: z.string(),
    turnId: z.string(),
    role: z.enum(['user', 'assistant']),
    content: z.string(),
    finishReason: z.string().nullable(),
    model: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: 'ConversationMessage' });
same<Same<z.infer<typeof ConversationMessageSchema>, ConversationMessage>>();

/** `GET /v1/conversations/:id/messages`. */
export const ConversationMessagesResponse = z
  .strictObject({
    conversationId: z.string(),
    messages: z.array(ConversationMessageSchema).meta({ description: 'Oldest first.' }),
    nextBefore: z.string().nullable().meta({ description: 'Pass as `before` for the older page; null at the start.' }),
  })
  .meta({ id: 'ConversationMessages' });

/** `POST /v1/turns/:turnId/cancel`. */
export const CancelAccepted = z.strictObject({ turnId: z.string(), cancelRequested: z.literal(true) });

/** `POST /v1/chat/:id/stop`. */
export const StopAccepted = z.strictObject({ turnId: z.string(), stopRequested: z.literal(true) });

/** The decision that stands for an approval. */
export const ApprovalOutcomeSchema = z
  .strictObject({
    approvalId: z.string(),
    turnId: z.string(),
    approved: z.boolean(),
    decidedBy: ApprovalDecider,
    reason: z.string().nullable(),
  })
  .meta({ id: 'ApprovalOutcome' });
same<Same<z.infer<typeof ApprovalOutcomeSchema>, ApprovalOutcome>>();

/** The `409` of a decision after another one stood: that decision. */
export const ApprovalConflict = z.strictObject({
  error: z.strictObject({ type: z.literal('conflict'), message: z.string() }),
  decision: ApprovalOutcomeSchema,
});

/** The `409` of a decision after the approval expired. */
export const ApprovalExpired = z.strictObject({
  error: z.strictObject({ type: z.literal('approval.expired'), message: z.string() }),
});

const PendingApproval = z
  .strictObject({
    approvalId: z.string(),
    turnId: z.string(),
    conversationId: z.string(),
    toolCallId: z.string(),
    toolName: z.string(),
    arguments: z.string().meta({ description: 'Exactly what runs if it is approved (JSON).' }),
    reason: z.string().nullable(),
    createdAt: z.string(),
    expiresAt: z.string(),
  })
  .meta({ id: 'PendingApproval' });
same<Same<z.infer<typeof PendingApproval>, PendingApprovalView>>();

/** `GET /v1/approvals`. */
export const PendingApprovalsResponse = z.strictObject({
  approvals: z.array(PendingApproval),
  next: z.string().nullable().meta({ description: 'Pass as `after` for the next page; null on the last.' }),
});

const UsageTotals = {
  inputTokens: z.number().int(),
  outputTokens: z.number().int(),
  cachedInputTokens: z.number().int(),
  reasoningTokens: z.number().int(),
  llmAttempts: z.number().int(),
  responsesWithoutUsage: z.number().int(),
  turns: z.record(z.string(), z.number().int()).meta({ description: 'Turns by outcome (`completed`, `failed`, …).' }),
  toolCalls: z.number().int(),
};

/** `GET /v1/usage`. */
export const UsageResponse = z
  .strictObject({
    ...UsageTotals,
    from: z.string(),
    to: z.string(),
    groupBy: z.enum(['model', 'conversation', 'day']).optional(),
    groups: z.array(z.strictObject({ ...UsageTotals, key: z.string() })).optional(),
    truncated: z.boolean().optional().meta({ description: 'More groups exist than were returned.' }),
  })
  .meta({ id: 'UsageReport' });
same<Same<z.infer<typeof UsageResponse>, UsageReport & { truncated?: boolean }>>();

/**
 * One part of the AI SDK's UI message stream (`data:` of each SSE frame; the stream ends with `data: [DONE]`). The
 * `ai` package owns the part types (`start`, `start-step`, `text-delta`, `tool-input-available`, `finish`, …); its
 * own schema has types JSON Schema cannot express, so the document names the protocol instead of copying it.
 */
export const UiMessageChunk = z.looseObject({ type: z.string() }).meta({
  id: 'UIMessageChunk',
  description: 'A part of the AI SDK UI message stream protocol (header `x-vercel-ai-ui-message-stream: v1`).',
});

/** A message as the AI SDK's `UIMessage` holds it (`GET /v1/chat/:id/messages`). */
export const UiMessage = z
  .looseObject({
    id: z.string(),
    role: z.enum(['system', 'user', 'assistant']),
    parts: z.array(z.looseObject({ type: z.string() })),
  })
  .meta({ id: 'UIMessage' });
