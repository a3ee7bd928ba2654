import type { Hono, MiddlewareHandler } from 'hono';
import { ApiError } from './errors';

/** Every route of the gateway with the methods it answers (HEAD is answered wherever GET is). */
export const ROUTE_METHODS: readonly { path: string; allow: readonly string[] }[] = [
  { path: '/v1/conversations', allow: ['GET', 'HEAD'] },
  { path: '/v1/conversations/:id', allow: ['DELETE'] },
  { path: '/v1/conversations/:id/turns', allow: ['GET', 'HEAD', 'POST'] },
  { path: '/v1/conversations/:id/messages', allow: ['GET', 'HEAD'] },
  { path: '/v1/turns/:turnId/events', allow: ['GET', 'HEAD'] },
  { path: '/v1/turns/:turnId/cancel', allow: ['POST'] },
  { path: '/v1/turns/:turnId/approvals/:approvalId', allow: ['POST'] },
  { path: '/v1/approvals', allow: ['GET', 'HEAD'] },
  { path: '/v1/chat', allow: ['POST'] },
  { path: '/v1/chat/:id/stream', allow: ['GET', 'HEAD'] },
  { path: '/v1/chat/:id/stop', allow: ['POST'] },
  { path: '/v1/chat/:id/messages', allow: ['GET', 'HEAD'] },
  { path: '/v1/usage', allow: ['GET', 'HEAD'] },
  { path: '/v1/openapi.json', allow: ['GET', 'HEAD'] },
  { path: '/chat', allow: ['GET', 'HEAD'] },
  { path: '/chat/app.js', allow: ['GET', 'HEAD'] },
  { path: '/healthz', allow: ['GET', 'HEAD'] },
];

/**
 * Answers a known path asked with a method it does not serve with `405` and `Allow` (RFC 9110 §15.5.6), instead of
 * the `404` of an unknown path. Register after the routes themselves, which answer first.
 */
export function rejectOtherMethods(app: Hono): void {
  for (const route of ROUTE_METHODS) {
    const allow = route.allow.join(', ');
    app.all(route.path, (c) => {
      throw new ApiError(405, 'method_not_allowed', `${c.req.method} is not allowed on this path (allowed: ${allow})`, {
        headers: { Allow: allow },
      });
    });
  }
}

/**
 * Makes sure no `HEAD` leaves a body running. Hono answers `HEAD` with the `GET` handler and drops its body without
 * cancelling it, so a streaming handler that forgot to check the method would keep its stream (a subscription, a
 * workflow watch, a stream slot) open with no reader until a write timed out. The event-stream routes answer
 * `HEAD` before opening anything; this cancels any other body, which ends a stream's callback at once.
 */
export function headWithoutBody(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (c.req.method !== 'HEAD' || c.res.body === null) return;
    const { status, headers } = c.res;
    await c.res.body.cancel().catch(() => undefined);
    c.res = new Response(null, { status, headers });
  };
}
