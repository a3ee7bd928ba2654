import { Hono } from 'hono';
import type pg from 'pg';
import { conversationMessages, InvalidPageCursorError, tenantSeesConversation, type TurnClient } from '../client';
import type { AppEnv } from './auth';
import { ApiError, notFound } from './errors';
import { validate } from './request';
import { ConversationId, ConversationPage, ConversationsQuery, MessagesQuery } from './schemas';

/**
 * `GET /conversations/:id/messages?limit&before`: the conversation as its user saw it (their messages and the
 * turns' final answers), oldest first. `nextBefore` pages back to older messages. `GET /conversations/:id/turns`:
 * its running turn and its queued ones, in the order they will run. `GET /conversations?limit&after`: the tenant's
 * conversations, most recent activity first ({@link ConversationPage}). `DELETE /conversations/:id`: deletes one for
 * good (204; 404 for one the tenant does not have, including one already deleted). Mounted under `/v1`.
 */
export function conversationRoutes(deps: { pool: pg.Pool; turns: TurnClient }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get('/conversations', async (c) => {
    const query = validate(ConversationsQuery, c.req.query(), 'query');
    try {
      const page = await deps.turns.conversations(
        c.var.tenant,
        query.after === undefined ? { limit: query.limit } : { limit: query.limit, after: query.after },
      );
      return c.json(ConversationPage.parse(page));
    } catch (err: unknown) {
      if (err instanceof InvalidPageCursorError) throw new ApiError(400, 'bad_request', 'invalid page cursor');
      throw err;
    }
  });

  app.delete('/conversations/:id', async (c) => {
    const conversationId = validate(ConversationId, c.req.param('id'), 'conversation id');
    if ((await deps.turns.deleteConversation(c.var.tenant, conversationId)) === 'not_found') {
      throw notFound(`conversation ${conversationId}`);
    }
    return c.body(null, 204);
  });

  app.get('/conversations/:id/turns', async (c) => {
    const conversationId = validate(ConversationId, c.req.param('id'), 'conversation id');
    if (!(await tenantSeesConversation(deps.pool, c.var.tenant, conversationId))) {
      throw notFound(`conversation ${conversationId}`);
    }
    return c.json({ conversationId, ...(await deps.turns.turns(c.var.tenant, conversationId)) });
  });

  app.get('/conversations/:id/messages', async (c) => {
    const conversationId = validate(ConversationId, c.req.param('id'), 'conversation id');
    const query = validate(MessagesQuery, c.req.query(), 'query');
    if (!(await tenantSeesConversation(deps.pool, c.var.tenant, conversationId))) {
      throw notFound(`conversation ${conversationId}`);
    }
    const messages = await conversationMessages(
      deps.pool,
      c.var.tenant,
      conversationId,
      query.before === undefined ? { limit: query.limit } : { limit: query.limit, before: query.before },
    );
    const oldest = messages[0];
    return c.json({
      conversationId,
      messages,
      nextBefore: messages.length === query.limit && oldest ? oldest.id : null,
    });
  });

  return app;
}
