import { WorkflowNotFoundError } from '@temporalio/common';
import { UI_MESSAGE_STREAM_HEADERS } from 'ai';
import { Hono } from 'hono';
import { z } from 'zod';
import { turnIdFor } from '../../common';
import {
  BudgetExhaustedError,
  ConversationStuckError,
  InvalidTurnRequestError,
  TurnConflictError,
  TurnStartTimeoutError,
} from '../../client';
import type { AppEnv } from '../auth';
import { ApiError, budgetExhausted, conversationUnavailable } from '../errors';
import { jsonBody, limitBody, validate } from '../request';
import { ConversationId, ListLimit, StartTurnBody } from '../schemas';
import type { TurnRoutesDeps } from '../turns';
import { decisionRefused } from '../approvals';
import { approvalLookups, decideFromChat, type ChatContinuation } from './approve';
import { approvalResponses, ChatRequestBody, userText } from './body';
import { chatHistory } from './history';
import { startChatTurn } from './start';
import { streamChatTurn } from './stream';
import { runningTurnOf } from './turns-of-chat';
import { answerMessageId } from './ui-chunks';

/** Query of `GET /v1/chat/:id/messages`: how many of the newest turns to list. */
export const HistoryQuery = z.strictObject({ limit: ListLimit });

/**
 * The AI SDK's chat endpoints (what `useChat` with `DefaultChatTransport({ api: '…/v1/chat' })` calls), mounted
 * under `/v1` behind bearer authentication. The chat id is the conversation id and the user message id the request
 * id, so a retried POST attaches to its turn instead of starting another.
 *
 * - `POST /chat` starts (or attaches to) the turn of the last message and streams it as a UI message stream; a POST
 *   whose last message is the answer with `approval-responded` parts delivers those decisions and streams the rest
 *   of that answer. A stream ends at calls waiting for a person (`finish`), while the turn waits.
 * - `GET  /chat/:id/stream` replays the chat's running turn from its start (`204` when none runs)
 * - `POST /chat/:id/stop` stops generating (the partial answer is kept); `204` when nothing runs
 * - `GET  /chat/:id/messages` the history as `UIMessage[]`
 */
export function chatRoutes(deps: TurnRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post('/chat', limitBody(deps.bodyLimitBytes), async (c) => {
    const tenant = c.var.tenant;
    const body = await jsonBody(c, ChatRequestBody);
    const responses = approvalResponses(body);
    if (responses.length > 0) {
      // `addToolApprovalResponse` sent the answer back with the person's decisions: the same answer continues.
      if (!deps.temporal) throw new ApiError(503, 'unavailable', 'Temporal is not reachable');
      const messageId = body.messages.at(-1)!.id;
      let continuation: ChatContinuation;
      try {
        continuation = await decideFromChat(
          { pool: deps.pool, turns: deps.turns },
          tenant,
          body.id,
          messageId,
          responses,
        );
      } catch (err: unknown) {
        return decisionRefused(c, err);
      }
      deps.logger.info({ tenant, turnId: continuation.turnId, decisions: responses.length }, 'chat approvals decided');
      const release = deps.limits.openStream(tenant);
      return streamChatTurn(c, deps, continuation.turnId, messageId, release, {
        from: continuation.from,
        approvals: approvalLookups(deps.pool, tenant, continuation.turnId),
      });
    }
    const message = validate(StartTurnBody.shape.message, userText(body), 'text of the last message');
    const requestId = body.messages.at(-1)!.id;
    const conversationId = body.id;
    const release = deps.limits.openStream(tenant);
    let started: { turnId: string; attached: boolean };
    try {
      started = await deps.limits.admitTurn(tenant, turnIdFor(tenant, conversationId, requestId), () =>
        startChatTurn(deps.turns, {
          tenantId: tenant,
          conversationId,
          requestId,
          message,
          ...(body.model !== undefined ? { model: body.model } : {}),
          ...(body.tools !== undefined ? { tools: body.tools } : {}),
          ...(body.approvalTools !== undefined ? { approvalTools: body.approvalTools } : {}),
          ...(body.maxHops !== undefined ? { maxHops: body.maxHops } : {}),
          ...(body.persistence !== undefined ? { persistence: body.persistence } : {}),
        }),
      );
    } catch (err: unknown) {
      release();
      if (err instanceof InvalidTurnRequestError) throw new ApiError(400, 'bad_request', err.message, { cause: err });
      if (err instanceof TurnStartTimeoutError || err instanceof ConversationStuckError) {
        throw conversationUnavailable(err, deps.limits.retryAfterSeconds);
      }
      if (err instanceof BudgetExhaustedError) throw budgetExhausted(err);
      // Only a full queue refuses a chat turn (its policy is `enqueue`).
      if (err instanceof TurnConflictError) throw new ApiError(409, 'conflict', err.message, { cause: err });
      throw err;
    }
    deps.logger.info({ tenant, turnId: started.turnId, attached: started.attached }, 'chat turn started');
    return streamChatTurn(c, deps, started.turnId, answerMessageId(requestId), release, {
      approvals: approvalLookups(deps.pool, tenant, started.turnId),
    });
  });

  app.get('/chat/:id/stream', async (c) => {
    const conversationId = validate(ConversationId, c.req.param('id'), 'chat id');
    const running = await runningTurnOf(deps.pool, c.var.tenant, conversationId);
    if (!running) return c.body(null, 204);
    // Hono answers HEAD with this handler: the headers, and no stream behind them.
    if (c.req.method === 'HEAD') return c.body(null, 200, UI_MESSAGE_STREAM_HEADERS);
    const release = deps.limits.openStream(c.var.tenant);
    // A turn waiting for a person is replayed up to its approval requests, and the stream ends there.
    return streamChatTurn(c, deps, running.turnId, answerMessageId(running.requestId), release, {
      approvals: approvalLookups(deps.pool, c.var.tenant, running.turnId),
    });
  });

  app.post('/chat/:id/stop', async (c) => {
    const conversationId = validate(ConversationId, c.req.param('id'), 'chat id');
    const running = await runningTurnOf(deps.pool, c.var.tenant, conversationId);
    if (!running) return c.body(null, 204);
    try {
      await deps.turns.cancel(running.turnId, 'stopped from the chat');
    } catch (err: unknown) {
      // It ended between the lookup and the signal: there is nothing left to stop.
      if (err instanceof WorkflowNotFoundError) return c.body(null, 204);
      throw err;
    }
    deps.logger.info({ tenant: c.var.tenant, turnId: running.turnId }, 'chat stop requested');
    return c.json({ turnId: running.turnId, stopRequested: true }, 202);
  });

  app.get('/chat/:id/messages', async (c) => {
    const conversationId = validate(ConversationId, c.req.param('id'), 'chat id');
    const { limit } = validate(HistoryQuery, c.req.query(), 'query');
    return c.json(await chatHistory(deps.pool, deps.turns, c.var.tenant, conversationId, limit));
  });

  return app;
}
