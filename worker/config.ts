import { existsSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, EnvBool, EnvDuration, TemporalEnv, temporalEnvProblem } from '../config';

export { ConfigError };

const List = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

/** The worker's environment, parsed once at start-up. Temporal's own variable names where they exist. */
export const WorkerConfig = TemporalEnv.extend({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' }),
  /**
   * Connections in the worker's pool, the stream writers' shared ones included: the most this worker ever holds,
   * whatever the number of streams. @default 20
   */
  DATABASE_POOL_MAX: z.coerce.number().int().min(4).max(1000).default(20),
  /**
   * Of those, connections the worker's stream writers share (each turn pinned to one, so its deltas stay in
   * order); at most DATABASE_POOL_MAX - 2. @default 4
   */
  TURNFLOW_STREAM_CONNECTIONS: z.coerce.number().int().min(1).max(100).default(4),
  OPENAI_BASE_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  OPENAI_API_KEY: z.string().min(1, 'must not be empty'),
  /** Model used when a turn names none. @default gpt-4o-mini */
  OPENAI_MODEL: z.string().min(1).default('gpt-4o-mini'),
  /** Other models turns may ask for (comma-separated). */
  TURNFLOW_MODELS: List.default([]),
  /** Tools this worker offers (comma-separated); unset = every built-in tool. */
  TURNFLOW_TOOLS: List.optional(),
  /**
   * Tools every call of which needs a person's approval (comma-separated), whatever their definition says; an
   * unknown name stops the worker.
   */
  TURNFLOW_APPROVAL_TOOLS: List.default([]),
  /** How long a tool call waits for a person's approval before it is denied: `90s`, `30m`, `24h`, `2d` or ms. */
  TURNFLOW_APPROVAL_TIMEOUT: EnvDuration(1_000, 365 * 86_400_000).default(86_400_000),
  /** Log each turn's first LLM reply (the seed's `logging.llm_replies`). */
  TURNFLOW_LOG_LLM_REPLIES: EnvBool.default(false),
  TURNFLOW_LLM_IDLE_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  /** Provider failures an LLM hop may have before the turn fails (lost workers do not count). */
  TURNFLOW_LLM_FAILURE_BUDGET: z.coerce.number().int().min(1).default(8),
  /**
   * How often (ms) the worker looks at the other workers' leases in Postgres, to notice a worker that died and retry
   * its activities at once instead of after their heartbeat timeout (docs/chaos.md); 0 turns this off (no lease
   * connection either). @default 250
   */
  TURNFLOW_PEER_POLL_MS: z.coerce
    .number()
    .int()
    .refine((ms) => ms === 0 || (ms >= 50 && ms <= 60_000), 'must be 0 (off) or 50-60000')
    .default(250),
  /** Activities (LLM streams, tools) this worker runs at once: streams wait on the network, not the CPU. */
  TURNFLOW_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).default(500),
  /**
   * A workflow bundle built ahead (`npm run build:workflows <file>`): the worker loads it instead of bundling
   * `workflows/` at start (no bundler heap, a faster start). It must be rebuilt with every change to the workflows.
   */
  TURNFLOW_WORKFLOW_BUNDLE: z
    .string()
    .min(1)
    .refine((file) => existsSync(file), 'names no file (build it with npm run build:workflows <file>)')
    .optional(),
  /** A JSON file `{ "mcpServers": { … } }` naming MCP servers whose tools the worker offers. */
  TURNFLOW_MCP_CONFIG: z.string().min(1).optional(),
  /** Serve the worker's metrics as Prometheus text on this port (`GET /metrics`); unset = no metrics. */
  TURNFLOW_METRICS_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  /** Serve the Temporal SDK's own worker metrics (its Runtime's Prometheus exporter) on this port. */
  TURNFLOW_SDK_METRICS_PORT: z.coerce.number().int().min(1).max(65_535).optional(),
  /** Address the metrics endpoints bind. @default 127.0.0.1 */
  TURNFLOW_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Label the per-turn counters with the tenant (one series per tenant: mind the cardinality). @default false */
  TURNFLOW_METRICS_TENANT_LABEL: EnvBool.default(false),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});
export type WorkerConfig = z.infer<typeof WorkerConfig>;

/** Parses `env`; throws {@link ConfigError} naming each bad variable (never echoing secret values). */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const parsed = WorkerConfig.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new ConfigError(`the worker cannot start; fix these environment variables:\n${problems}`);
  }
  const config = parsed.data;
  const temporalProblem = temporalEnvProblem(config);
  if (temporalProblem) throw new ConfigError(temporalProblem);
  return config;
}
