import { z } from 'zod';
import type { ZodOpenApiOperationObject } from 'zod-openapi';
import { ApprovalDecisionRequest } from '../../client';
import { ApprovalId, PageQuery } from '../approvals';
import { ChatRequestBody } from '../chat/body';
import { HistoryQuery } from '../chat/routes';
import {
  CancelBody,
  ConversationId,
  ConversationPage,
  ConversationsQuery,
  Cursor,
  EventsQuery,
  MessagesQuery,
  StartTurnBody,
  TurnIdParam,
} from '../schemas';
import { UsageQuery } from '../usage';
import { authErrors, bodyErrors, errorResponse, errors } from './common';
import {
  ApprovalConflict,
  ApprovalExpired,
  ApprovalOutcomeSchema,
  CancelAccepted,
  ConversationMessagesResponse,
  ConversationTurnsResponse,
  PendingApprovalsResponse,
  StopAccepted,
  TurnEventSchema,
  UiMessage,
  UiMessageChunk,
  UsageResponse,
} from './responses';

/** One route of the gateway's API as the OpenAPI document describes it. */
export interface ApiRoute {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** The path as the gateway registers it (Hono syntax: `/v1/conversations/:id/turns`). */
  path: string;
  /** Its parameters and body are the zod schemas the route validates with, never copies of them. */
  operation: ZodOpenApiOperationObject;
}

const conversationPath = z.object({ id: ConversationId.meta({ description: 'The conversation (chat) id.' }) });
const turnPath = z.object({ turnId: TurnIdParam });

/** A stream of the turn's events as Server-Sent Events. */
const turnEventStream = {
  'text/event-stream': {
    schema: TurnEventSchema,
    // OpenAPI 3.1 has no way to type the frames of a stream; the schema is each frame's `data:`.
  },
} as const;

/** The AI SDK's UI message stream. */
const uiMessageStream = { 'text/event-stream': { schema: UiMessageChunk } } as const;
const uiMessageStreamHeaders = z.object({
  'x-vercel-ai-ui-message-stream': z.literal('v1'),
});

const conflict = errorResponse(
  '`conflict`: the conversation refuses the turn (double-texting policy `reject` while another turn runs or waits, ' +
    'with `error.runningTurnId`; or its queue is full; or it is being deleted).',
);

/**
 * Every `/v1` route of the gateway. The document is built from this list alone, and a test checks it against the
 * routes the app registers: a new route must add its entry here.
 */
export const API_ROUTES: readonly ApiRoute[] = [
  {
    method: 'post',
    path: '/v1/conversations/:id/turns',
    operation: {
      operationId: 'startTurn',
      tags: ['turns'],
      summary: 'Start (or attach to) a turn and stream its events',
      description:
        'The same `requestId` never starts a second turn: a repeated request attaches to the running turn, or gets ' +
        "the stored answer. The stream is the turn's events from its start; `Location` is where to resume it.",
      requestParams: { path: conversationPath },
      requestBody: {
        required: true,
        description:
          'Strict JSON in UTF-8: an unknown key, a key given twice, a lone surrogate or U+0000 anywhere, nesting deeper ' +
          'than 64 levels, or a message of only whitespace is a 400.',
        content: { 'application/json': { schema: StartTurnBody } },
      },
      responses: {
        ...authErrors,
        '200': {
          description: "The turn's events (Server-Sent Events), ending after `done` or `error`.",
          headers: z.object({
            'Turn-Id': z.string().meta({ description: 'The turn id, URL-encoded.' }),
            'Turn-Attached': z.enum(['true', 'false']).meta({ description: 'true: the request had a turn already.' }),
            'Turn-State': z.enum(['running', 'queued', 'steered', 'finished']),
            Location: z.string().meta({ description: '`/v1/turns/{turnId}/events`' }),
          }),
          content: turnEventStream,
        },
        ...bodyErrors,
        '409': conflict,
        '429': errors.tooManyRequests,
        '503': errors.unavailable,
      },
    },
  },
  {
    method: 'get',
    path: '/v1/conversations',
    operation: {
      operationId: 'listConversations',
      tags: ['conversations'],
      summary: "The tenant's conversations, most recent activity first",
      description: 'Cursor-paged: pass the `next` of a page as `after` for the next one (`null` on the last page).',
      requestParams: { query: ConversationsQuery },
      responses: {
        ...authErrors,
        '200': {
          description: 'A page of conversations, each titled by its first user message (cut to 80 characters).',
          content: { 'application/json': { schema: ConversationPage } },
        },
        '400': errors.badRequest,
      },
    },
  },
  {
    method: 'delete',
    path: '/v1/conversations/:id',
    operation: {
      operationId: 'deleteConversation',
      tags: ['conversations'],
      summary: 'Delete a conversation for good',
      description:
        'Stops its running turn, drops its queued ones, removes its workflows from Temporal and every row holding its ' +
        'text from Postgres (usage figures stay). Idempotent; afterwards its reads answer 404 and the same id starts a ' +
        'new, empty conversation. A start while the deletion runs answers 409.',
      requestParams: { path: conversationPath },
      responses: {
        ...authErrors,
        '204': { description: 'Deleted.' },
        '400': errors.badRequest,
        '404': errors.notFound,
      },
    },
  },
  {
    method: 'get',
    path: '/v1/conversations/:id/turns',
    operation: {
      operationId: 'listConversationTurns',
      tags: ['conversations'],
      summary: "The conversation's running turn, its queued ones and the steered messages waiting",
      requestParams: { path: conversationPath },
      responses: {
        ...authErrors,
        '200': {
          description: 'In the order they will run.',
          content: { 'application/json': { schema: ConversationTurnsResponse } },
        },
        '400': errors.badRequest,
        '404': errors.notFound,
        '503': errors.conversationUnavailable,
      },
    },
  },
  {
    method: 'get',
    path: '/v1/conversations/:id/messages',
    operation: {
      operationId: 'listConversationMessages',
      tags: ['conversations'],
      summary: 'The conversation as its user saw it: their messages and the final answers',
      requestParams: { path: conversationPath, query: MessagesQuery },
      responses: {
        ...authErrors,
        '200': {
          description: 'A page, oldest first.',
          content: { 'application/json': { schema: ConversationMessagesResponse } },
        },
        '400': errors.badRequest,
        '404': errors.notFound,
      },
    },
  },
  {
    method: 'get',
    path: '/v1/turns/:turnId/events',
    operation: {
      operationId: 'turnEvents',
      tags: ['turns'],
      summary: "Stream a turn's events, resuming after a cursor",
      description:
        '`Last-Event-ID` (what an EventSource sends when it reconnects) wins over `?after=`; without either the ' +
        'stream starts at the beginning. No gap and no duplicate, live or stored.',
      requestParams: {
        path: turnPath,
        query: EventsQuery,
        header: z.object({
          'Last-Event-ID': Cursor.optional().meta({ description: 'The `id:` of the last event seen.' }),
        }),
      },
      responses: {
        ...authErrors,
        '200': { description: 'The events after the cursor (Server-Sent Events).', content: turnEventStream },
        '204': { description: "The cursor is the turn's last event: there is nothing more to read." },
        '400': errors.badRequest,
        '404': errors.notFound,
        '429': errors.tooManyRequests,
      },
    },
  },
  {
    method: 'post',
    path: '/v1/turns/:turnId/cancel',
    operation: {
      operationId: 'cancelTurn',
      tags: ['turns'],
      summary: 'Stop generating (the partial answer is kept); a queued turn is removed without running',
      requestParams: { path: turnPath },
      requestBody: { required: false, content: { 'application/json': { schema: CancelBody } } },
      responses: {
        ...authErrors,
        '202': {
          description: 'The turn was asked to stop.',
          content: { 'application/json': { schema: CancelAccepted } },
        },
        ...bodyErrors,
        '404': errors.notFound,
        '409': errorResponse('`conflict`: the turn is not running.'),
        '503': errors.conversationUnavailable,
      },
    },
  },
  {
    method: 'post',
    path: '/v1/turns/:turnId/approvals/:approvalId',
    operation: {
      operationId: 'decideApproval',
      tags: ['approvals'],
      summary: "A person's decision on a tool call waiting for approval",
      description: 'The same decision again answers 200; another one after a decision stands answers 409 with it.',
      requestParams: { path: z.object({ turnId: TurnIdParam, approvalId: ApprovalId }) },
      requestBody: { required: true, content: { 'application/json': { schema: ApprovalDecisionRequest } } },
      responses: {
        ...authErrors,
        '200': {
          description: 'The decision that stands.',
          content: { 'application/json': { schema: ApprovalOutcomeSchema } },
        },
        ...bodyErrors,
        '404': errors.notFound,
        '409': {
          description: 'Another decision stands (`conflict`, with it), or the approval expired (`approval.expired`).',
          content: { 'application/json': { schema: z.union([ApprovalConflict, ApprovalExpired]) } },
        },
        '503': errorResponse(
          '`unavailable`: Temporal is not reachable, the turn did not take the decision within the deadline (no ' +
            'worker runs it now; the same decision sent again is the same one), or a JWT could not be checked ' +
            "(the identity provider's keys could not be fetched).",
          { headers: z.object({ 'Retry-After': z.string().optional() }) },
        ),
      },
    },
  },
  {
    method: 'get',
    path: '/v1/approvals',
    operation: {
      operationId: 'listPendingApprovals',
      tags: ['approvals'],
      summary: "The tenant's tool calls waiting for a person, newest first",
      requestParams: { query: PageQuery },
      responses: {
        ...authErrors,
        '200': { description: 'A page.', content: { 'application/json': { schema: PendingApprovalsResponse } } },
        '400': errors.badRequest,
      },
    },
  },
  {
    method: 'post',
    path: '/v1/chat',
    operation: {
      operationId: 'chat',
      tags: ['chat'],
      summary: "The AI SDK's chat endpoint (`useChat`): start the turn of the last message and stream it",
      description:
        'The chat id is the conversation id and the last (user) message id the request id, so a retried POST ' +
        'attaches to its turn.',
      requestBody: {
        required: true,
        description:
          'What `DefaultChatTransport` posts. Beyond the schema: `trigger` must be `submit-message`, the last message ' +
          "must be the user's, its id a valid request id, and `messageId` (if any) that message's id; only its text " +
          'parts are read.',
        content: { 'application/json': { schema: ChatRequestBody } },
      },
      responses: {
        ...authErrors,
        '200': {
          description: 'The UI message stream; it ends with `data: [DONE]`.',
          headers: uiMessageStreamHeaders,
          content: uiMessageStream,
        },
        ...bodyErrors,
        '409': errorResponse("`conflict`: the conversation's queue is full."),
        '429': errors.tooManyRequests,
        '503': errors.unavailable,
      },
    },
  },
  {
    method: 'get',
    path: '/v1/chat/:id/stream',
    operation: {
      operationId: 'resumeChatStream',
      tags: ['chat'],
      summary: "Replay the chat's running turn from its start (what `useChat`'s `resume` calls)",
      requestParams: { path: conversationPath },
      responses: {
        ...authErrors,
        '200': {
          description: 'The running turn as a UI message stream.',
          headers: uiMessageStreamHeaders,
          content: uiMessageStream,
        },
        '204': { description: 'No turn of the chat is running.' },
        '400': errors.badRequest,
        '429': errors.tooManyRequests,
      },
    },
  },
  {
    method: 'post',
    path: '/v1/chat/:id/stop',
    operation: {
      operationId: 'stopChat',
      tags: ['chat'],
      summary: "Stop the chat's running turn (the partial answer is kept)",
      requestParams: { path: conversationPath },
      responses: {
        ...authErrors,
        '202': {
          description: 'The running turn was asked to stop.',
          content: { 'application/json': { schema: StopAccepted } },
        },
        '204': { description: 'Nothing was running.' },
        '400': errors.badRequest,
        '503': errors.conversationUnavailable,
      },
    },
  },
  {
    method: 'get',
    path: '/v1/chat/:id/messages',
    operation: {
      operationId: 'chatMessages',
      tags: ['chat'],
      summary: "The chat's history as the AI SDK's `UIMessage[]` (a running turn's answer is left to the stream)",
      requestParams: { path: conversationPath, query: HistoryQuery },
      responses: {
        ...authErrors,
        '200': { description: 'Oldest first.', content: { 'application/json': { schema: z.array(UiMessage) } } },
        '400': errors.badRequest,
      },
    },
  },
  {
    method: 'get',
    path: '/v1/usage',
    operation: {
      operationId: 'usage',
      tags: ['usage'],
      summary: "The tenant's tokens, LLM attempts, turns and tool calls in a time range",
      requestParams: { query: UsageQuery },
      responses: {
        ...authErrors,
        '200': {
          description: 'Totals, and groups when `groupBy` is given.',
          content: { 'application/json': { schema: UsageResponse } },
        },
        '400': errors.badRequest,
      },
    },
  },
  {
    method: 'get',
    path: '/v1/openapi.json',
    operation: {
      operationId: 'openapi',
      tags: ['meta'],
      summary: 'This document (OpenAPI 3.1)',
      security: [],
      responses: {
        '200': {
          description: 'The OpenAPI document.',
          content: { 'application/json': { schema: z.looseObject({ openapi: z.string() }) } },
        },
      },
    },
  },
];
