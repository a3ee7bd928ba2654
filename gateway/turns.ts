import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { Hono, type Context } from 'hono';
import type pg from 'pg';
import type { Logger } from 'pino';
import { turnIdFor } from '../common';
import {
  BudgetExhaustedError,
  InvalidTurnRequestError,
  tenantSeesTurn,
  TurnConflictError,
  TurnStartTimeoutError,
  ConversationStuckError,
  type TurnClient,
} from '../client';
import type { AppEnv } from './auth';
import { ApiError, budgetExhausted, notFound, conversationUnavailable } from './errors';
import type { TenantLimits } from './limits';
import { jsonBody, limitBody, validate } from './request';
import { requestedCursor, resumePoint } from './cursor';
import { CancelBody, ConversationId, StartTurnBody, TurnIdParam } from './schemas';
import { eventStreamHead, streamTurnEvents } from './sse';

/** What the turn routes need. */
export interface TurnRoutesDeps {
  turns: TurnClient;
  temporal: Client | undefined;
  pool: pg.Pool;
  bodyLimitBytes: number;
  keepAliveMs: number;
  writeTimeoutMs: number;
  limits: TenantLimits;
  logger: Logger;
}

/** Header naming the turn a `POST …/turns` started or attached to (URL-encoded turn id). */
export const TURN_ID_HEADER = 'Turn-Id';
/** Header saying whether a `POST …/turns` attached to an existing turn (`true`) or started one (`false`). */
export const TURN_ATTACHED_HEADER = 'Turn-Attached';
/** Header saying where a `POST …/turns` stands in its conversation: `running`, `queued`, `steered`, `finished`. */
export const TURN_STATE_HEADER = 'Turn-State';

/**
 * `POST /conversations/:id/turns` (start or attach, then stream), `GET /turns/:turnId/events` (stream, resumable)
 * and `POST /turns/:turnId/cancel`. Mounted under `/v1` behind bearer authentication.
 */
export function turnRoutes(deps: TurnRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const limit = limitBody(deps.bodyLimitBytes);

  app.post('/conversations/:id/turns', limit, async (c) => {
    const tenant = c.var.tenant;
    const conversationId = validate(ConversationId, c.req.param('id'), 'conversation id');
    const body = await jsonBody(c, StartTurnBody);
    // No ownership check here: the conversation and the turn are keyed by the caller's tenant, so this can only
    // start or attach to the caller's own (client/access.ts).
    // The stream slot first: a turn must not be started for a caller who then cannot be given its stream.
    const release = deps.limits.openStream(tenant);
    let started: { turnId: string; attached: boolean; state: string };
    try {
      started = await deps.limits.admitTurn(tenant, turnIdFor(tenant, conversationId, body.requestId), () =>
        deps.turns.start({ ...body, conversationId, tenantId: tenant }),
      );
    } catch (err: unknown) {
      release();
      if (err instanceof InvalidTurnRequestError) throw new ApiError(400, 'bad_request', err.message, { cause: err });
      if (err instanceof TurnStartTimeoutError || err instanceof ConversationStuckError) {
        throw conversationUnavailable(err, deps.limits.retryAfterSeconds);
      }
      if (err instanceof BudgetExhaustedError) throw budgetExhausted(err);
      if (err instanceof TurnConflictError) {
        throw new ApiError(409, 'conflict', err.message, {
          cause: err,
          ...(err.runningTurnId === null ? {} : { runningTurnId: err.runningTurnId }),
        });
      }
      throw err;
    }
    const encoded = encodeURIComponent(started.turnId);
    deps.logger.info({ tenant, turnId: started.turnId, attached: started.attached }, 'turn started');
    c.header(TURN_ID_HEADER, encoded);
    c.header(TURN_ATTACHED_HEADER, String(started.attached));
    c.header(TURN_STATE_HEADER, started.state);
    c.header('Location', `/v1/turns/${encoded}/events`);
    return streamTurnEvents(c, deps, started.turnId, 0, release);
  });

  app.get('/turns/:turnId/events', async (c) => {
    const requested = requestedCursor(c);
    const turnId = await ownedTurn(c, deps.pool);
    const { after, ended } = await resumePoint(deps.turns, turnId, requested);
    // A reader that saw the end gets 204, not an empty 200: a browser's EventSource reconnects after a 200 that
    // ends (every few seconds, for ever) but stops for good on a 204.
    if (ended) return c.body(null, 204);
    // Hono answers HEAD with this handler and drops the body without cancelling it: open no stream for it.
    if (c.req.method === 'HEAD') return eventStreamHead(c);
    return streamTurnEvents(c, deps, turnId, after, deps.limits.openStream(c.var.tenant));
  });

  app.post('/turns/:turnId/cancel', limit, async (c) => {
    const turnId = await ownedTurn(c, deps.pool);
    const { reason } = await jsonBody(c, CancelBody, { optional: true });
    try {
      await deps.turns.cancel(turnId, reason);
    } catch (err: unknown) {
      // Signalling a closed workflow is answered like a missing one by Temporal.
      if (err instanceof WorkflowNotFoundError) {
        throw new ApiError(409, 'conflict', `turn ${turnId} is not running`, { cause: err });
      }
      throw err;
    }
    deps.logger.info({ tenant: c.var.tenant, turnId, reason }, 'turn cancel requested');
    return c.json({ turnId, cancelRequested: true }, 202);
  });

  return app;
}

/**
 * The `:turnId` of the path if the caller's tenant may see it (client/access.ts).
 * @throws ApiError 404, the same for a malformed id, a missing turn and another tenant's turn.
 */
async function ownedTurn(c: Context<AppEnv>, pool: pg.Pool): Promise<string> {
  const turnId = c.req.param('turnId') ?? '';
  if (!TurnIdParam.safeParse(turnId).success || !(await tenantSeesTurn(pool, c.var.tenant, turnId))) {
    throw notFound(`turn ${turnId}`);
  }
  return turnId;
}
