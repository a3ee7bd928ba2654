import { z } from 'zod';
import { ExternalId } from '../../common';
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
    if (last.role !== 'user') {
      ctx.addIssue({ code: 'custom', path: ['messages', body.messages.length - 1, 'role'], message: 'must be user' });
    }
    if (!ExternalId.safeParse(last.id).success) {
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

/** The user's text of a chat request: its last message's text parts, joined. */
export function userText(body: ChatRequestBody): string {
  const last = body.messages.at(-1)!;
  return last.parts.flatMap((part) => (part.type === 'text' && 'text' in part ? [part.text as string] : [])).join('');
}
