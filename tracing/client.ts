import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry/lib/client';
import type { ClientInterceptors } from '@temporalio/client';

/**
 * Temporal client interceptors that send the active span's context with every start, update, signal and query,
 * so a turn started under a span (a request's, a caller's) continues its trace in the workflows.
 */
export function clientTracingInterceptors(): ClientInterceptors {
  return { workflow: [new OpenTelemetryWorkflowClientInterceptor()] };
}
