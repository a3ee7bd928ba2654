import { z } from 'zod';
import { ConfigError, EnvBool, EnvDuration, TemporalEnv, temporalEnvProblem } from '../config';
import { DailyTokenBudgets, DEFAULT_START_TIMEOUT_MS } from '../client';
import { DEFAULT_CONVERSATION_IDLE_MS } from '../workflows';
import { DoubleTextingPolicy } from '../common';
import { DEFAULT_LIMITS } from './limits';
import { DEFAULT_BODY_LIMIT_BYTES, MIN_BODY_LIMIT_BYTES } from './schemas';
import { DEFAULT_TENANT_CLAIM, type JwtTenantOptions } from './jwt';
import { ApiTokens, TenantDirectory } from './tenants';

/** An optional variable that counts as unset when empty or blank (as `KEY=` or a compose `${KEY:-}` leaves it). */
function unsetIfEmpty<T extends z.ZodType<string, string>>(schema: T) {
  return z.preprocess((v) => (typeof v === 'string' ? v.trim() || undefined : v), schema.optional());
}

/** The gateway's environment, parsed once at start-up. Temporal's own variable names where they exist. */
export const GatewayEnv = TemporalEnv.extend({
  /** @default 8080 */
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  /** Interface to listen on; `0.0.0.0` to serve beyond this machine. @default 127.0.0.1 */
  GATEWAY_HOST: z.string().min(1).default('127.0.0.1'),
  /** Serve the gateway's metrics as Prometheus text on this port (`GET /metrics`); unset = no metrics. */
  GATEWAY_METRICS_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  /** Address the metrics endpoint binds. @default 127.0.0.1 */
  TURNFLOW_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Label the open-streams gauge with the tenant (one series per tenant). @default false */
  TURNFLOW_METRICS_TENANT_LABEL: EnvBool.default(false),
  /**
   * Largest request body accepted, in bytes; at least what the longest valid message needs when fully escaped.
   * @default 1048576
   */
  GATEWAY_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(MIN_BODY_LIMIT_BYTES, `must be at least ${MIN_BODY_LIMIT_BYTES} (a 100000-character message, escaped)`)
    .max(10_485_760)
    .default(DEFAULT_BODY_LIMIT_BYTES),
  /** Idle time after which an event stream sends a `: keep-alive` comment. @default 15000 */
  GATEWAY_KEEPALIVE_MS: z.coerce.number().int().min(100).max(600_000).default(15_000),
  /** Turns one tenant may have running at once (counted in Postgres, fleet-wide); 0 = no limit. @default 25 */
  GATEWAY_MAX_RUNNING_TURNS: z.coerce.number().int().min(0).max(100_000).default(DEFAULT_LIMITS.maxRunningTurns),
  /** Event streams one tenant may hold open on one gateway process; 0 = no limit. @default 100 */
  GATEWAY_MAX_OPEN_STREAMS: z.coerce.number().int().min(0).max(1_000_000).default(DEFAULT_LIMITS.maxOpenStreams),
  /** `Retry-After` of a 429 past those limits, in seconds. @default 5 */
  GATEWAY_RETRY_AFTER_SECONDS: z.coerce.number().int().min(1).max(3_600).default(DEFAULT_LIMITS.retryAfterSeconds),
  /**
   * How long a start waits for a worker to accept the turn (take its conversation's workflow task, or the turn's own
   * when it starts directly) before answering 503 with `Retry-After`; the same request retried attaches to its turn.
   * @default 10000
   */
  GATEWAY_START_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(DEFAULT_START_TIMEOUT_MS),
  /**
   * A conversation's workflow with nothing running or queued for this long completes; its next message starts a new
   * run (the history stays in Postgres). `90s`, `10m`, `1h` or milliseconds. @default 10m
   */
  TURNFLOW_CONVERSATION_IDLE: EnvDuration(1_000, 30 * 86_400_000).default(DEFAULT_CONVERSATION_IDLE_MS),
  /**
   * An idle conversation's turn starts directly, without its conversation's workflow (one Temporal crossing instead
   * of three before the model is asked); the start still waits for a worker to take the turn, within
   * `GATEWAY_START_TIMEOUT_MS`. `false`: every start goes through the conversation's workflow. @default true
   */
  TURNFLOW_DIRECT_START: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /**
   * Host a turn worker in the gateway's process, configured from the same variables as the standalone worker
   * (`OPENAI_*`, `TURNFLOW_MODELS`, `TURNFLOW_TOOLS`, `TURNFLOW_MCP_CONFIG`, `TURNFLOW_METRICS_PORT`, …), on the
   * gateway's own Temporal connection, and start direct turns with eager workflow start: their first workflow task
   * runs in this process without a trip through Temporal's matching. Standalone workers may run beside it.
   * @default false
   */
  GATEWAY_WORKER: EnvBool.default(false),
  /** A reader that takes no data for this long while the stream has some to send is disconnected; 0 = never. @default 30000 */
  GATEWAY_WRITE_TIMEOUT_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' }),
  /** Connections in the gateway's pool (event reads are short; streams do not hold one). @default 20 */
  DATABASE_POOL_MAX: z.coerce.number().int().min(2).max(1000).default(20),
  /** Double-texting policy of turn requests that name none (`enqueue`, `reject`, `interrupt`, `steer`). @default enqueue */
  TURNFLOW_DOUBLE_TEXTING: DoubleTextingPolicy.default('enqueue'),
  /** Comma-separated `tenant:sha256hex(token)` entries; see `hashToken`. */
  TURNFLOW_API_TOKENS: z.string().optional(),
  /**
   * Where the identity provider publishes its signing keys (JWKS); with it, JWT bearer tokens name tenants beside the
   * static tokens. `https://`, or `http://` on a loopback host. Needs the issuer and the audience. @default none
   */
  GATEWAY_JWT_JWKS_URL: unsetIfEmpty(z.url({ protocol: /^https?$/, error: 'must be an http(s):// URL' }).max(2_048)),
  /** The `iss` every JWT must carry. */
  GATEWAY_JWT_ISSUER: unsetIfEmpty(z.string().max(2_048)),
  /** The `aud` every JWT must carry. */
  GATEWAY_JWT_AUDIENCE: unsetIfEmpty(z.string().max(2_048)),
  /** The JWT claim (top level) whose value is the tenant id. @default tenant_id */
  GATEWAY_JWT_TENANT_CLAIM: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
    z.string().trim().max(256).default(DEFAULT_TENANT_CLAIM),
  ),
  /** Set by the embedded dev stack (`npm start`): allows the dev token when no tokens are configured. */
  TURNFLOW_DEV: EnvBool.default(false),
  /** Daily token budgets: a default, then `tenant:tokens` overrides (`200000,acme:1000000`); UTC days. @default none */
  TURNFLOW_TENANT_DAILY_TOKENS: DailyTokenBudgets.optional(),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});
export type GatewayEnv = z.infer<typeof GatewayEnv>;

/** The gateway's configuration: the parsed environment plus the tenant directory it implies. */
export interface GatewayConfig extends GatewayEnv {
  tenants: TenantDirectory;
  /** How JWT tenants are verified, when `GATEWAY_JWT_JWKS_URL` is set. */
  jwt: JwtTenantOptions | undefined;
  /** True when the dev token was allowed because no tokens are configured (log a warning). */
  devTokenFallback: boolean;
}

/**
 * Parses `env`. Without `TURNFLOW_API_TOKENS` the gateway starts only with JWT tenants (`GATEWAY_JWT_*`) or on the
 * embedded dev stack (`TURNFLOW_DEV=1`), accepting the single dev token.
 *
 * @throws ConfigError naming each bad variable.
 */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const parsed = GatewayEnv.safeParse(env);
  if (!parsed.success) throw problems(parsed.error.issues);
  const config = parsed.data;
  const temporalProblem = temporalEnvProblem(config);
  if (temporalProblem) throw new ConfigError(temporalProblem);
  const jwt = jwtOptions(config);
  const raw = config.TURNFLOW_API_TOKENS?.trim();
  if (raw) {
    const tokens = ApiTokens.safeParse(raw);
    if (!tokens.success) {
      throw problems(tokens.error.issues.map((issue) => ({ ...issue, path: ['TURNFLOW_API_TOKENS'] })));
    }
    return { ...config, tenants: new TenantDirectory(tokens.data), jwt, devTokenFallback: false };
  }
  if (jwt) return { ...config, tenants: new TenantDirectory([]), jwt, devTokenFallback: false };
  if (!config.TURNFLOW_DEV) {
    throw new ConfigError(
      'the gateway cannot start: TURNFLOW_API_TOKENS is not set. Set it to comma-separated tenant:sha256hex(token) ' +
        'entries, or configure JWT tenants (GATEWAY_JWT_JWKS_URL, GATEWAY_JWT_ISSUER, GATEWAY_JWT_AUDIENCE); the dev ' +
        'token is accepted only on the embedded dev stack, TURNFLOW_DEV=1',
    );
  }
  return { ...config, tenants: TenantDirectory.dev(), jwt, devTokenFallback: true };
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The JWT settings, all three or none. @throws ConfigError naming what is missing or unsafe. */
function jwtOptions(config: GatewayEnv): JwtTenantOptions | undefined {
  const { GATEWAY_JWT_JWKS_URL: url, GATEWAY_JWT_ISSUER: issuer, GATEWAY_JWT_AUDIENCE: audience } = config;
  if (url === undefined && issuer === undefined && audience === undefined) return undefined;
  const missing = Object.entries({
    GATEWAY_JWT_JWKS_URL: url,
    GATEWAY_JWT_ISSUER: issuer,
    GATEWAY_JWT_AUDIENCE: audience,
  })
    .filter(([, value]) => value === undefined)
    .map(([name]) => ({ path: [name], message: 'JWT tenants need the key set URL, the issuer and the audience' }));
  if (missing.length > 0) throw problems(missing);
  const jwksUrl = new URL(url!);
  if (jwksUrl.protocol === 'http:' && !LOOPBACK.has(jwksUrl.hostname)) {
    throw problems([{ path: ['GATEWAY_JWT_JWKS_URL'], message: 'must be https:// (http:// only on a loopback host)' }]);
  }
  return { jwksUrl, issuer: issuer!, audience: audience!, tenantClaim: config.GATEWAY_JWT_TENANT_CLAIM };
}

function problems(issues: readonly { path: readonly PropertyKey[]; message: string }[]): ConfigError {
  const lines = issues.map((i) => `  ${i.path.map(String).join('.')}: ${i.message}`).join('\n');
  return new ConfigError(`the gateway cannot start; fix these environment variables:\n${lines}`);
}
