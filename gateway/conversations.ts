import { Hono } from 'hono';
import type pg from 'pg';
import { conversationMessages, tenantSeesConversation, type TurnClient } from '../client';
import type { AppEnv } from './auth';
import { notFound } from './errors';
import { validate } from './request';
import { ConversationId, MessagesQuery } from './schemas';

/**
 * `GET /conversations/:id/messages?limit&before`: the conversation as its user saw it (their messages and the
 * turns' final answers), oldest first. `nextBefore` pages back to older messages. `GET /conversations/:id/turns`:
 * its running turn and its queued ones, in the order they will run. Mounted under `/v1`.
 */
export function conversationRoutes(deps: { pool: pg.Pool; turns: TurnClient }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

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
