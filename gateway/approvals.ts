import { Hono, type Context } from 'hono';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  ApprovalConflictError,
  ApprovalDecisionRequest,
  ApprovalExpiredError,
  ApprovalNotFoundError,
  InvalidPageCursorError,
  listPendingApprovals,
  type TurnClient,
} from '../client';
import type { AppEnv } from './auth';
import { ApiError, notFound } from './errors';
import { jsonBody, limitBody, validate } from './request';

/** What the approval routes need. */
export interface ApprovalRoutesDeps {
  turns: TurnClient;
  temporal: Client | undefined;
  pool: pg.Pool;
  bodyLimitBytes: number;
  logger: Logger;
}

/** Path parameter naming an approval (the `approvalId` of an `approval_requested` event). */
export const ApprovalId = z.string().min(1).max(64);
/** Query of `GET /v1/approvals`. */
export const PageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).optional(),
  after: z.string().max(512).optional(),
});

/**
 * The answer for a decision that was refused: 404 for an unknown (or another tenant's) approval, 409 with the
 * decision that stands for a contradicting one, 409 `approval.expired`; anything else is rethrown.
 */
export function decisionRefused(c: Context, err: unknown): Response {
  if (err instanceof ApprovalNotFoundError) throw notFound(`approval ${err.approvalId}`);
  if (err instanceof ApprovalExpiredError) {
    return c.json({ error: { type: 'approval.expired', message: 'the approval expired' } }, 409);
  }
  if (err instanceof ApprovalConflictError) {
    return c.json({ error: { type: 'conflict', message: err.message }, decision: err.decision }, 409);
  }
  throw err;
}

/**
 * `POST /turns/:turnId/approvals/:approvalId` (a person's decision: 200 with the decision that stands; the same again
 * is 200; another decision after one stands is 409 with it; an expired approval 409 `approval.expired`; another
 * tenant's or an unknown one 404) and `GET /approvals` (the tenant's pending approvals, newest first, paged).
 */
export function approvalRoutes(deps: ApprovalRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post('/turns/:turnId/approvals/:approvalId', limitBody(deps.bodyLimitBytes), async (c) => {
    const tenant = c.var.tenant;
    const turnId = c.req.param('turnId');
    const approvalId = validate(ApprovalId, c.req.param('approvalId'), 'approval id');
    const body = await jsonBody(c, ApprovalDecisionRequest);
    if (!deps.temporal) throw new ApiError(503, 'unavailable', 'Temporal is not reachable');
    try {
      const decision = await deps.turns.decideApproval(turnId, approvalId, { ...body, tenantId: tenant });
      deps.logger.info({ tenant, turnId, approvalId, approved: decision.approved }, 'approval decided');
      return c.json(decision, 200);
    } catch (err: unknown) {
      return decisionRefused(c, err);
    }
  });

  app.get('/approvals', async (c) => {
    const query = validate(PageQuery, c.req.query(), 'query');
    try {
      const page = await listPendingApprovals(deps.pool, c.var.tenant, {
        ...(query.limit === undefined ? {} : { limit: query.limit }),
        ...(query.after === undefined ? {} : { after: query.after }),
      });
      return c.json(page, 200);
    } catch (err: unknown) {
      if (err instanceof InvalidPageCursorError) throw new ApiError(400, 'bad_request', 'invalid page cursor');
      throw err;
    }
  });

  return app;
}
