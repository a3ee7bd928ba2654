import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { TracingConfig } from './config';

/** Name of the tracer turnflow's own spans (requests, LLM attempts, tool calls) come from. */
export const TRACER_NAME = 'turnflow';

/** A process's tracing, installed as OpenTelemetry's global provider, context manager and propagator. */
export interface Tracing {
  readonly config: TracingConfig;
  readonly tracer: Tracer;
  readonly resource: Resource;
  /** The processor every span goes through (the workflow span sink hands workflow spans to it too). */
  readonly spanProcessor: SpanProcessor;
  /** Exports what is buffered. */
  flush(): Promise<void>;
  /** Exports what is buffered and uninstalls the globals. */
  shutdown(): Promise<void>;
}

/**
 * Installs tracing for this process: spans are batched and posted as OTLP/HTTP JSON to `config.tracesUrl` (the
 * exporter's own `OTEL_EXPORTER_OTLP_*` variables apply: headers, timeout), the W3C `traceparent` propagates, and
 * the active span follows async calls. `exporter` replaces the OTLP exporter (tests, benchmarks).
 */
export function startTracing(config: TracingConfig, opts: { exporter?: SpanExporter } = {}): Tracing {
  const resource = new Resource({ [ATTR_SERVICE_NAME]: config.serviceName });
  const exporter = opts.exporter ?? new OTLPTraceExporter({ url: config.tracesUrl });
  const spanProcessor = new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1_000 });
  const provider = new BasicTracerProvider({ resource, spanProcessors: [spanProcessor] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return {
    config,
    tracer: provider.getTracer(TRACER_NAME),
    resource,
    spanProcessor,
    flush: () => provider.forceFlush(),
    async shutdown() {
      try {
        await provider.shutdown();
      } finally {
        trace.disable();
        propagation.disable();
        context.disable();
      }
    },
  };
}
