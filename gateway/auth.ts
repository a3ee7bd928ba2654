import { createMiddleware } from 'hono/factory';
import { ApiError } from './errors';
import type { TenantDirectory } from './tenants';

/** Hono environment of the authenticated routes: the tenant the bearer token belongs to. */
export interface AppEnv {
  Variables: { tenant: string };
}

const BEARER = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

/**
 * Requires `Authorization: Bearer <token>` naming a known tenant and sets `c.var.tenant`. Anything else is a
 * 401 with `WWW-Authenticate: Bearer` (RFC 6750), before any body is read.
 */
export function bearerAuth(tenants: TenantDirectory) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header('authorization');
    if (!header) {
      throw new ApiError(401, 'unauthorized', 'missing bearer token (Authorization: Bearer <token>)', {
        headers: { 'WWW-Authenticate': 'Bearer realm="turnflow"' },
      });
    }
    const token = BEARER.exec(header)?.[1];
    const tenant = token === undefined ? undefined : tenants.authenticate(token);
    if (tenant === undefined) {
      throw new ApiError(401, 'unauthorized', 'invalid bearer token', {
        headers: { 'WWW-Authenticate': 'Bearer realm="turnflow", error="invalid_token"' },
      });
    }
    c.set('tenant', tenant);
    await next();
  });
}
