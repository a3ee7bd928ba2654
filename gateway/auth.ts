import { createMiddleware } from 'hono/factory';
import type { Logger } from 'pino';
import { ApiError } from './errors';
import { JwtTenants, MAX_JWT_LENGTH } from './jwt';
import type { TenantDirectory } from './tenants';

/** Hono environment of the authenticated routes: the tenant the bearer token belongs to. */
export interface AppEnv {
  Variables: { tenant: string };
}

const BEARER = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

/** Seconds a caller waits before retrying when the identity provider's keys could not be fetched. */
const JWKS_RETRY_AFTER_SECONDS = 5;

/** Who may call the authenticated routes. */
export interface BearerAuthOptions {
  /** The static tokens (`TURNFLOW_API_TOKENS`). */
  tenants: TenantDirectory;
  /** Tenants from an identity provider's JWTs (`GATEWAY_JWT_*`). @default none */
  jwt?: JwtTenants | undefined;
  /** Told why a JWT was refused (a code, never the token). */
  logger: Logger;
}

/**
 * Requires `Authorization: Bearer <token>` naming a known tenant and sets `c.var.tenant`: a static token of the
 * directory, or else a JWT the identity provider signed. Anything else is a 401 with `WWW-Authenticate: Bearer`
 * (RFC 6750), before any body is read; a JWT that cannot be checked because the provider's keys cannot be fetched
 * is a 503 with `Retry-After`. The token itself is never logged.
 */
export function bearerAuth(opts: BearerAuthOptions) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header('authorization');
    if (!header) {
      throw new ApiError(401, 'unauthorized', 'missing bearer token (Authorization: Bearer <token>)', {
        headers: { 'WWW-Authenticate': 'Bearer realm="turnflow"' },
      });
    }
    const token = header.length <= MAX_JWT_LENGTH + 16 ? BEARER.exec(header)?.[1] : undefined;
    let tenant = token === undefined ? undefined : opts.tenants.authenticate(token);
    if (tenant === undefined && token !== undefined && opts.jwt && JwtTenants.looksLikeJwt(token)) {
      const outcome = await opts.jwt.authenticate(token);
      if (outcome.ok) tenant = outcome.tenant;
      else if (outcome.providerUnavailable) {
        opts.logger.warn({ reason: outcome.reason }, 'the identity provider keys could not be fetched');
        throw new ApiError(503, 'unavailable', 'the bearer token cannot be checked now; try again', {
          headers: { 'Retry-After': String(JWKS_RETRY_AFTER_SECONDS) },
        });
      } else opts.logger.debug({ reason: outcome.reason }, 'JWT refused');
    }
    if (tenant === undefined) {
      throw new ApiError(401, 'unauthorized', 'invalid bearer token', {
        headers: { 'WWW-Authenticate': 'Bearer realm="turnflow", error="invalid_token"' },
      });
    }
    c.set('tenant', tenant);
    await next();
  });
}
