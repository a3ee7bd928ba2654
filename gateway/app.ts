import type { Tracer } from '@opentelemetry/api';
import type { Client } from '@temporalio/client';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type pg from 'pg';
import pino, { type Logger } from 'pino';
import {
  ApprovalUnavailableError,
  ConversationStuckError,
  ConversationUnavailableError,
  type TurnClient,
} from '../client';
import { isPostgresUnavailable } from '../db';
import type { GatewayMetrics } from '../metrics';
import { bearerAuth, type AppEnv } from './auth';
import { chatRoutes } from './chat';
import { chatPageRoutes } from './chat-page';
import { conversationRoutes } from './conversations';
import { ApiError, approvalUnavailable, conversationUnavailable, type ApiErrorBody } from './errors';
import { healthRoutes, type HealthCheck } from './health';
import { DEFAULT_LIMITS, TenantLimits, type LimitOptions } from './limits';
import { headWithoutBody, rejectOtherMethods } from './methods';
import { openApiRoutes } from './openapi';
import { approvalRoutes } from './approvals';
import { DEFAULT_BODY_LIMIT_BYTES } from './schemas';
import type { JwtTenants } from './jwt';
import type { TenantDirectory } from './tenants';
import { requestSpans } from './tracing';
import { turnRoutes } from './turns';
import { usageRoutes } from './usage';

/** What {@link createGatewayApp} needs; the caller owns (and closes) every resource. */
export interface GatewayDeps {
  turns: TurnClient;
  /** Pool on the turnflow database (ownership checks, event and message reads). */
  pool: pg.Pool;
  /** Bearer token → tenant. */
  tenants: TenantDirectory;
  /** Tenants from an identity provider's JWTs, beside {@link GatewayDeps.tenants}. @default none */
  jwt?: JwtTenants;
  /** Largest accepted request body, in bytes. @default 1048576 ({@link DEFAULT_BODY_LIMIT_BYTES}) */
  bodyLimitBytes?: number;
  /** Idle time after which an event stream sends a `: keep-alive` comment. @default 15000 */
  keepAliveMs?: number;
  /** Backpressure after which a reader that stopped reading is disconnected; 0 = never. @default 30000 */
  writeTimeoutMs?: number;
  /** Per-tenant limits on running turns and open streams. @default {@link DEFAULT_LIMITS} */
  limits?: LimitOptions;
  /**
   * The Temporal client behind `turns`. Lets each event stream stop watching its turn's workflow when the stream
   * ends (without it the watch lasts until the turn ends) and adds a `temporal` check to `/healthz`.
   */
  temporal?: Client;
  /** Extra `/healthz` checks by name. @default `{ temporal }` when {@link GatewayDeps.temporal} is given */
  healthChecks?: Record<string, HealthCheck>;
  /** Request counts and open streams (`metrics/`, served on `GATEWAY_METRICS_PORT`). @default none */
  metrics?: GatewayMetrics;
  /**
   * A span per request from this tracer (the turns a request starts join its trace when `turns`' Temporal client
   * has `OpenTelemetryWorkflowClientInterceptor`). @default none: no spans
   */
  tracer?: Tracer;
  /** @default silent */
  logger?: Logger;
}

/** `Retry-After` of a request that failed because Postgres is out of reach, in seconds. */
export const STORAGE_RETRY_AFTER_SECONDS = 2;

/**
 * The HTTP gateway: turns over HTTP + Server-Sent Events for callers without a Temporal client.
 *
 * - `POST /v1/conversations/:id/turns` starts (or attaches to) a turn and streams its events
 * - `GET  /v1/turns/:turnId/events` streams a turn's events, resuming after `Last-Event-ID` / `?after=`
 * - `POST /v1/turns/:turnId/cancel` asks a running turn to stop (202)
 * - `GET  /v1/conversations/:id/messages` lists the conversation's user and assistant messages
 * - `GET  /v1/conversations/:id/turns` lists the conversation's running and queued turns
 * - `GET  /v1/conversations` lists the tenant's conversations, most recent activity first (paged)
 * - `DELETE /v1/conversations/:id` deletes a conversation for good (its turns stopped, its text erased)
 * - `POST /v1/chat`, `GET /v1/chat/:id/stream`, `POST /v1/chat/:id/stop`, `GET /v1/chat/:id/messages`: the same
 *   turns for the AI SDK's `useChat` (UI message stream protocol; gateway/chat/)
 * - `GET  /v1/usage?from&to&groupBy` the tenant's tokens, LLM attempts, turns and tool calls in a time range
 * - `GET  /chat` a chat page on the AI SDK's client (web/), for trying it in a browser
 * - `GET  /v1/openapi.json` the API's OpenAPI 3.1 document (unauthenticated), built from the routes' own schemas
 * - `GET  /healthz` reports whether Postgres (and the extra checks) answer
 *
 * Every `/v1` route but the document needs `Authorization: Bearer <token>` (a static token or a JWT); errors are
 * JSON `{ error: { type, message } }`.
 */
export function createGatewayApp(deps: GatewayDeps): Hono {
  const logger = deps.logger ?? pino({ level: 'silent' });
  const routeDeps = {
    turns: deps.turns,
    temporal: deps.temporal,
    pool: deps.pool,
    bodyLimitBytes: deps.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    keepAliveMs: deps.keepAliveMs ?? 15_000,
    writeTimeoutMs: deps.writeTimeoutMs ?? 30_000,
    limits: new TenantLimits(deps.pool, deps.limits ?? DEFAULT_LIMITS),
    logger,
  };

  const v1 = new Hono<AppEnv>();
  v1.use('*', bearerAuth({ tenants: deps.tenants, jwt: deps.jwt, logger }));
  v1.route('/', turnRoutes(routeDeps));
  v1.route('/', conversationRoutes(routeDeps));
  v1.route('/', chatRoutes(routeDeps));
  v1.route('/', usageRoutes(routeDeps));
  v1.route('/', approvalRoutes(routeDeps));

  const app = new Hono();
  if (deps.tracer) app.use('*', requestSpans(deps.tracer));
  if (deps.metrics) {
    app.use('*', deps.metrics.middleware);
    deps.metrics.watchOpenStreams((fn) => routeDeps.limits.forEachOpenStreams(fn));
  }
  app.use('*', headWithoutBody());
  const temporal = deps.temporal;
  const checks = deps.healthChecks ?? (temporal ? { temporal: () => temporal.workflowService.getSystemInfo({}) } : {});
  app.route('/', healthRoutes({ pool: deps.pool, checks, logger }));
  app.route('/', chatPageRoutes());
  // Before the /v1 routes, whose bearer authentication it does not need.
  app.route('/', openApiRoutes());
  app.route('/v1', v1);
  rejectOtherMethods(app);
  app.notFound((c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404));
  app.onError((err, c) => {
    // A listing or a cancel the conversation's workflow did not answer (a start maps its own, in its route), or a
    // decision the turn did not take in time: no worker runs it now.
    const api =
      err instanceof ConversationStuckError || err instanceof ConversationUnavailableError
        ? conversationUnavailable(err, routeDeps.limits.retryAfterSeconds)
        : err instanceof ApprovalUnavailableError
          ? approvalUnavailable(err, routeDeps.limits.retryAfterSeconds)
          : err;
    if (api instanceof ApiError) {
      for (const [name, value] of Object.entries(api.headers)) c.header(name, value);
      return c.json(api.toJSON(), api.status);
    }
    if (err instanceof HTTPException) {
      return c.json(errorBody(err.status === 413 ? 'payload_too_large' : 'bad_request', err.message), err.status);
    }
    // The path is the caller's: bounded before it reaches the log.
    const path = c.req.path.slice(0, 256);
    if (isPostgresUnavailable(err)) {
      // Postgres restarting or out of reach: the request may pass in a moment, and nothing was lost.
      logger.warn(
        { err: err.message.slice(0, 200), method: c.req.method, path },
        'request failed: Postgres unavailable',
      );
      c.header('Retry-After', String(STORAGE_RETRY_AFTER_SECONDS));
      return c.json(errorBody('unavailable', 'storage is unavailable; try again shortly'), 503);
    }
    logger.error({ err, method: c.req.method, path }, 'request failed');
    return c.json(errorBody('internal', 'internal error'), 500);
  });
  return app;
}

function errorBody(type: ApiErrorBody['error']['type'], message: string): ApiErrorBody {
  return { error: { type, message } };
}
