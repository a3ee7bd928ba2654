import { Counter, Histogram, type Registry } from 'prom-client';
import type { TurnMetrics } from '../activities/metrics';

/** Buckets of `gen_ai.client.token.usage` as the OpenTelemetry GenAI semantic conventions advise them. */
export const GEN_AI_TOKEN_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
/** Buckets of `gen_ai.client.operation.duration` (seconds) as the GenAI semantic conventions advise them. */
export const GEN_AI_DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/** Buckets of turn-level latencies (seconds): from a fast first token to a long tool chain. */
const TURN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];

/** Options of {@link createWorkerMetrics}. */
export interface WorkerMetricsOptions {
  /** Add a `tenant` label to the per-turn counters (`TURNFLOW_METRICS_TENANT_LABEL`): one series per tenant. @default false */
  tenantLabel?: boolean;
}

/**
 * The worker's metrics on `registry`, as {@link TurnMetrics} the activities report to. Names follow Prometheus
 * conventions; the GenAI histograms are `gen_ai.client.token.usage` and `gen_ai.client.operation.duration` in
 * Prometheus naming (dots to underscores, the unit `s` as `_seconds`), with their attributes as labels.
 */
export function createWorkerMetrics(registry: Registry, opts: WorkerMetricsOptions = {}): TurnMetrics {
  const tenant = opts.tenantLabel === true;
  const withTenant = <T extends string>(labels: T[]): (T | 'tenant')[] => (tenant ? [...labels, 'tenant'] : labels);
  const t = (tenantId: string | null) => (tenant ? { tenant: tenantId ?? '' } : {});
  const registers = [registry];

  const turns = new Counter({
    name: 'turnflow_turns_total',
    help: 'Turns that ended, by how (completed, failed, cancelled, interrupted, hop_limit, budget_exhausted).',
    labelNames: withTenant(['status']),
    registers,
  });
  const turnDuration = new Histogram({
    name: 'turnflow_turn_duration_seconds',
    help: 'Time from a turn being accepted (queue wait included) to its end, by how it ended.',
    labelNames: ['status'],
    buckets: TURN_BUCKETS,
    registers,
  });
  const firstToken = new Histogram({
    name: 'turnflow_time_to_first_token_seconds',
    help: "Time from a turn being accepted to the first text of its first hop on its stream (each attempt's first).",
    buckets: TURN_BUCKETS,
    registers,
  });
  const queueWait = new Histogram({
    name: 'turnflow_queue_wait_seconds',
    help: 'Time a turn waited in its conversation queue before it ran.',
    buckets: TURN_BUCKETS,
    registers,
  });
  const attempts = new Counter({
    name: 'turnflow_llm_attempts_total',
    help: 'LLM attempts recorded, by how they ended (ok, failed, cancelled, lost) and model.',
    labelNames: withTenant(['outcome', 'model']),
    registers,
  });
  const resets = new Counter({
    name: 'turnflow_llm_resets_total',
    help: 'Retried LLM attempts announced to readers with a reset event.',
    labelNames: ['model'],
    registers,
  });
  const tokens = new Counter({
    name: 'turnflow_tokens_total',
    help: 'Tokens the provider reported, by type (input, output, cached_input, reasoning) and model.',
    labelNames: withTenant(['type', 'model']),
    registers,
  });
  const toolCalls = new Counter({
    name: 'turnflow_tool_calls_total',
    help: 'Tool calls whose result was stored, by tool and outcome (ok, error, failed, denied, cancelled, unknown).',
    labelNames: withTenant(['tool', 'outcome']),
    registers,
  });
  const toolDuration = new Histogram({
    name: 'turnflow_tool_duration_seconds',
    help: 'Duration of each run of a tool (every attempt).',
    labelNames: ['tool'],
    buckets: GEN_AI_DURATION_BUCKETS,
    registers,
  });
  const tokenUsage = new Histogram({
    name: 'gen_ai_client_token_usage',
    help: 'gen_ai.client.token.usage: tokens per LLM response, by gen_ai.token.type (input, output).',
    labelNames: ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model', 'gen_ai_token_type'],
    buckets: GEN_AI_TOKEN_BUCKETS,
    registers,
  });
  const operationDuration = new Histogram({
    name: 'gen_ai_client_operation_duration_seconds',
    help: 'gen_ai.client.operation.duration: duration of each LLM call, error.type set when it failed.',
    labelNames: ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model', 'error_type'],
    buckets: GEN_AI_DURATION_BUCKETS,
    registers,
  });
  const genAi = (model: string) => ({
    gen_ai_operation_name: 'chat',
    gen_ai_provider_name: 'openai',
    gen_ai_request_model: model,
  });

  return {
    turnEnded(e) {
      turns.inc({ status: e.outcome, ...t(e.tenantId) });
      turnDuration.observe({ status: e.outcome }, e.durationSeconds);
    },
    turnStarted(e) {
      queueWait.observe(e.queueWaitSeconds);
    },
    firstToken(e) {
      firstToken.observe(e.seconds);
    },
    attemptRecorded(e) {
      if (e.newAttempt) attempts.inc({ outcome: e.outcome, model: e.model, ...t(e.tenantId) });
      if (e.tokens === null) return;
      const counts = {
        input: e.tokens.inputTokens,
        output: e.tokens.outputTokens,
        cached_input: e.tokens.cachedInputTokens,
        reasoning: e.tokens.reasoningTokens,
      };
      for (const [type, n] of Object.entries(counts)) tokens.inc({ type, model: e.model, ...t(e.tenantId) }, n);
      tokenUsage.observe({ ...genAi(e.model), gen_ai_token_type: 'input' }, e.tokens.inputTokens);
      tokenUsage.observe({ ...genAi(e.model), gen_ai_token_type: 'output' }, e.tokens.outputTokens);
    },
    attemptReset(e) {
      resets.inc({ model: e.model });
    },
    llmCall(e) {
      operationDuration.observe({ ...genAi(e.model), error_type: e.errorType ?? '' }, e.seconds);
    },
    toolResultStored(e) {
      toolCalls.inc({ tool: e.tool, outcome: e.outcome, ...t(e.tenantId) });
    },
    toolRun(e) {
      toolDuration.observe({ tool: e.tool }, e.seconds);
    },
  };
}
