import { z } from 'zod';
import { ExternalId } from '../../common';
import { ApprovalDecisionRequest } from '../../client';
import { StartTurnBody } from '../schemas';

/** Most messages a `useChat` body may carry (it sends the whole chat; the server keeps its own history). */
const MAX_MESSAGES = 1_000;
/** Most parts one message may carry. */
const MAX_PARTS = 100;

/** A text part, the only part turnflow reads from a user's message. */
const TextPart = z.strictObject({
  type: z.literal('text'),
  text: z.string().max(100_000),
  state: z.enum(['streaming', 'done']).optional(),
  providerMetadata: z.record(z.string().max(128), z.unknown()).optional(),
});

/**
 * Any other part the client holds (tool parts, step starts, files, data parts) from earlier answers: bounded, its
 * type checked for shape, its content not read (the server's own history is what the model sees).
 */
const OtherPart = z.looseObject({
  type: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[A-Za-z0-9._:-]+$/, 'must be a part type')
    .refine((type) => type !== 'text', 'a text part must have a string `text`'),
});

/**
 * A tool part the person answered with `addToolApprovalResponse`: the approval id the stream gave it and the
 * decision. Everything else on the part (input, output) is the client's copy and is not read.
 */
const ApprovalRespondedPart = z.looseObject({
  type: z.string().regex(/^(dynamic-tool|tool-.+)$/),
  toolCallId: z.string().min(1).max(200),
  state: z.literal('approval-responded'),
  approval: z.looseObject({
    id: z.string().min(1).max(64),
    approved: z.boolean(),
    reason: ApprovalDecisionRequest.shape.reason,
  }),
});

/** A decision a chat POST carries for a call waiting for approval. */
export interface ChatApprovalResponse {
  approvalId: string;
  toolCallId: string;
  approved: boolean;
  reason?: string;
}

function approvalResponsesOf(message: { parts: unknown[] }): ChatApprovalResponse[] {
  const responses: ChatApprovalResponse[] = [];
  for (const part of message.parts) {
    const parsed = ApprovalRespondedPart.safeParse(part);
    if (!parsed.success) continue;
    const { toolCallId, approval } = parsed.data;
    responses.push({
      approvalId: approval.id,
      toolCallId,
      approved: approval.approved,
      ...(approval.reason === undefined ? {} : { reason: approval.reason }),
    });
  }
  return responses;
}

/** One message of the chat as the AI SDK's `UIMessage` holds it. */
const ChatMessage = z.strictObject({
  id: z.string().min(1).max(128),
  role: z.enum(['system', 'user', 'assistant']),
  parts: z.array(z.union([TextPart, OtherPart])).max(MAX_PARTS),
  metadata: z.unknown().optional(),
});

/**
 * Body of `POST /v1/chat`, as the AI SDK's `DefaultChatTransport` sends it (`{ id, messages, trigger, messageId }`),
 * plus the per-turn options of `POST /v1/conversations/:id/turns` a frontend may add with the transport's `body`.
 * Strict: any other key (a `tenantId`, a misspelt option) is refused.
 */
export const ChatRequestBody = z
  .strictObject({
    /** The chat id: turnflow's conversation id. */
    id: ExternalId,
    messages: z.array(ChatMessage).min(1).max(MAX_MESSAGES),
    trigger: z.enum(['submit-message', 'regenerate-message']),
    /** Set by the SDK when a message is edited or regenerated; only the last message may be named. */
    messageId: z.string().min(1).max(128).optional(),
    model: StartTurnBody.shape.model,
    tools: StartTurnBody.shape.tools,
    approvalTools: StartTurnBody.shape.approvalTools,
    maxHops: StartTurnBody.shape.maxHops,
    persistence: StartTurnBody.shape.persistence,
  })
  .superRefine((body, ctx) => {
    // zod runs this even when a field above failed: nothing is assumed of the body's shape.
    const last = Array.isArray(body.messages) ? body.messages.at(-1) : undefined;
    if (last === undefined) return;
    if (body.trigger === 'regenerate-message') {
      ctx.addIssue({
        code: 'custom',
        path: ['trigger'],
        message: 'regenerating is not supported: a message id names one turn, whose answer is already stored',
      });
    }
    if (last.role === 'assistant') {
      // useChat's `addToolApprovalResponse` sends the answer back with the person's decisions on its tool parts.
      last.parts.forEach((part, i) => {
        const responded = (part as { state?: unknown }).state === 'approval-responded';
        if (responded && !ApprovalRespondedPart.safeParse(part).success) {
          ctx.addIssue({
            code: 'custom',
            path: ['messages', body.messages.length - 1, 'parts', i],
            message: 'an approval response needs `toolCallId` and `approval: { id, approved, reason? }`',
          });
        }
      });
      if (approvalResponsesOf(last).length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['messages', body.messages.length - 1],
          message:
            "the last message must be the user's, or the answer sent back with approval responses on its tool parts",
        });
      }
    } else if (last.role !== 'user') {
      ctx.addIssue({ code: 'custom', path: ['messages', body.messages.length - 1, 'role'], message: 'must be user' });
    } else if (!ExternalId.safeParse(last.id).success) {
      ctx.addIssue({
        code: 'custom',
        path: ['messages', body.messages.length - 1, 'id'],
        message: 'the user message id is the request id: 1-128 letters, digits, ".", "_" or "-"',
      });
    }
    if (body.messageId !== undefined && body.messageId !== last.id) {
      ctx.addIssue({
        code: 'custom',
        path: ['messageId'],
        message: 'only the last message can be sent: editing earlier messages is not supported',
      });
    }
  });
export type ChatRequestBody = z.infer<typeof ChatRequestBody>;

/** The decisions of a chat POST whose last message is the answer sent back with approval responses; else none. */
export function approvalResponses(body: ChatRequestBody): ChatApprovalResponse[] {
  const last = body.messages.at(-1)!;
  return last.role === 'assistant' ? approvalResponsesOf(last) : [];
}

/** The user's text of a chat request: its last message's text parts, joined. */
export function userText(body: ChatRequestBody): string {
  const last = body.messages.at(-1)!;
  return last.parts.flatMap((part) => (part.type === 'text' && 'text' in part ? [part.text as string] : [])).join('');
}
