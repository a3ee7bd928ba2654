// `turnflow/gateway`: the HTTP + SSE app, for teams that mount it in their own server (Hono), or run it as is.
export { createGatewayApp, type GatewayDeps } from '../gateway/app';
export type { AppEnv } from '../gateway/auth';
export { GatewayEnv, loadGatewayConfig, type GatewayConfig } from '../gateway/config';
export { ApiError, type ApiErrorBody, type ApiErrorType } from '../gateway/errors';
export type { HealthCheck } from '../gateway/health';
export { DEFAULT_LIMITS, type LimitOptions } from '../gateway/limits';
export { startGatewayServer, type GatewayServer, type ListenOptions } from '../gateway/server';
export { connectTemporal } from '../gateway/temporal';
export { hashToken, TenantDirectory } from '../gateway/tenants';
export { JwtTenants, type JwtTenantOptions } from '../gateway/jwt';
export { TURN_ATTACHED_HEADER, TURN_ID_HEADER } from '../gateway/turns';
export { ConfigError } from '../config';
export { codecRequestHandler, startCodecServer, type CodecServer, type CodecServerOptions } from '../codec';
