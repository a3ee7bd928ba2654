import { z } from 'zod';
import { ConfigError, EnvBool } from '../config';

/**
 * The standard OpenTelemetry variables turnflow reads (the OTLP exporter reads its own too: headers, timeout,
 * compression). Tracing is on when an OTLP endpoint is set and the SDK is not disabled.
 */
export const TracingEnv = z.object({
  /** Base URL of an OTLP/HTTP receiver (`/v1/traces` is appended), e.g. `http://localhost:4318`. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  /** Full URL traces are posted to; wins over `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  /** `true` turns tracing off whatever the endpoint. */
  OTEL_SDK_DISABLED: EnvBool.default(false),
  /** `none` turns tracing off; `otlp` (the default) exports over OTLP. */
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none']).default('otlp'),
  OTEL_SERVICE_NAME: z.string().min(1).max(200).optional(),
  /** Put messages, tool arguments and results in spans (off by default: spans carry ids, names and counts). */
  OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: EnvBool.default(false),
});
export type TracingEnv = z.infer<typeof TracingEnv>;

/** What a process traces with, when it traces. */
export interface TracingConfig {
  serviceName: string;
  /** Where spans are posted (`…/v1/traces`). */
  tracesUrl: string;
  captureMessageContent: boolean;
}

/**
 * The tracing settings of a process named `defaultServiceName` (`OTEL_SERVICE_NAME` wins), or `undefined` when no
 * OTLP endpoint is set (or the SDK is disabled): then nothing is loaded and nothing exported.
 * @throws {@link ConfigError} naming a bad variable.
 */
export function loadTracingConfig(
  defaultServiceName: string,
  env: NodeJS.ProcessEnv = process.env,
): TracingConfig | undefined {
  const parsed = TracingEnv.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new ConfigError(`tracing cannot start; fix these environment variables:\n${problems}`);
  }
  const e = parsed.data;
  if (e.OTEL_SDK_DISABLED || e.OTEL_TRACES_EXPORTER === 'none') return undefined;
  const tracesUrl =
    e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (e.OTEL_EXPORTER_OTLP_ENDPOINT ? `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces` : undefined);
  if (tracesUrl === undefined) return undefined;
  return {
    serviceName: e.OTEL_SERVICE_NAME ?? defaultServiceName,
    tracesUrl,
    captureMessageContent: e.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT,
  };
}
