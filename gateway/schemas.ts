import { z } from 'zod';
import { DoubleTextingPolicy, ExternalId, parseTurnId, PersistenceOptions, StartTurnRequest } from '../common';

/**
 * Body of `POST /v1/conversations/:id/turns`. Strict: an unknown key (a misspelt option, or a `tenantId`,
 * which only the bearer token decides) is rejected rather than silently ignored.
 */
export const StartTurnBody = z.strictObject({
  requestId: ExternalId,
  message: StartTurnRequest.shape.message.refine((m) => m.trim() !== '', 'must not be only whitespace'),
  model: StartTurnRequest.shape.model,
  tools: StartTurnRequest.shape.tools,
  /** Tools whose calls need a person's approval this turn, besides those the worker requires it for. */
  approvalTools: StartTurnRequest.shape.approvalTools,
  maxHops: StartTurnRequest.shape.maxHops.unwrap().optional(),
  budget: StartTurnRequest.shape.budget,
  persistence: z.strictObject(PersistenceOptions.shape).optional(),
  /** What to do while another turn of the conversation runs. @default the gateway's `TURNFLOW_DOUBLE_TEXTING` */
  doubleTexting: DoubleTextingPolicy.optional(),
});
export type StartTurnBody = z.infer<typeof StartTurnBody>;

/** Longest message a turn accepts, in UTF-16 code units (what `string.length` and zod count). */
const MAX_MESSAGE_UNITS = StartTurnRequest.shape.message.maxLength ?? 100_000;

/**
 * The smallest body limit that admits every valid {@link StartTurnBody}: a message of the longest length written
 * entirely as `\uXXXX` escapes takes 6 bytes per code unit (UTF-8 needs at most 3); the other fields (ids, model,
 * 64 tool names, persistence) take well under 64 KiB even when escaped. A lower limit would refuse valid messages.
 */
export const MIN_BODY_LIMIT_BYTES = MAX_MESSAGE_UNITS * 6 + 65_536;

/** The default body limit: {@link MIN_BODY_LIMIT_BYTES} rounded up to 1 MiB. */
export const DEFAULT_BODY_LIMIT_BYTES = 1_048_576;

/** Body of `POST /v1/turns/:turnId/cancel` (optional). */
export const CancelBody = z.strictObject({ reason: z.string().min(1).max(1_000).optional() });

/** An event cursor as `Last-Event-ID` or `?after=` carries it: a non-negative integer. */
export const Cursor = z
  .string()
  .trim()
  .regex(/^\d{1,16}$/, 'must be a non-negative integer (an event id)')
  .transform(Number)
  .pipe(z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER));

/** Query of `GET /v1/turns/:turnId/events`. */
export const EventsQuery = z.strictObject({ after: Cursor.optional() });

/** A `?limit=` of a listing: 1 to 200. @default 50 */
export const ListLimit = z
  .string()
  .regex(/^\d+$/, 'must be an integer')
  .transform(Number)
  .pipe(z.number().int().min(1).max(200))
  .default(50);

/** Query of `GET /v1/conversations/:id/messages`. */
export const MessagesQuery = z.strictObject({
  /** Newest messages to return (oldest first). @default 50 */
  limit: ListLimit,
  /** Only messages older than this message id (the `nextBefore` of a previous page). */
  before: z
    .string()
    .regex(/^\d{1,18}$/, 'must be a message id')
    .optional(),
});

/** Path parameter naming a conversation. */
export const ConversationId = ExternalId;

/**
 * Path parameter naming a turn: `turn/<tenant>/<conversationId>/<requestId>`, URL-encoded in the path (`/` as `%2F`).
 * The `Turn-Id` header of a start carries it encoded.
 */
export const TurnIdParam = z
  .string()
  .max(400)
  .refine((id) => parseTurnId(id) !== undefined, 'must be a turn id (turn/<tenant>/<conversationId>/<requestId>)')
  .meta({ description: 'A turn id, `turn/<tenant>/<conversationId>/<requestId>`, URL-encoded.' });

/** Query of `GET /v1/conversations`. */
export const ConversationsQuery = z.strictObject({
  /** Conversations per page. @default 50 */
  limit: ListLimit,
  /** The `next` of the previous page. */
  after: z.string().min(1).max(512).optional(),
});

/** One conversation of `GET /v1/conversations`. */
export const ConversationSummary = z.object({
  id: ConversationId,
  createdAt: z.iso.datetime(),
  /** When a message was last sent to it. */
  lastActivityAt: z.iso.datetime(),
  /** Its turns (a steered message is part of the turn it joined). */
  turnCount: z.number().int().nonnegative(),
  /** Its first user message, cut to 80 characters (Unicode code points); empty before it is stored. */
  title: z.string(),
});

/** Response of `GET /v1/conversations`: most recent activity first; `next` is the `after` of the next page. */
export const ConversationPage = z.object({
  conversations: z.array(ConversationSummary),
  next: z.string().nullable(),
});
