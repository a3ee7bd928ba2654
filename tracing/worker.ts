import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/worker';
import type { OpenTelemetryWorkflowExporter } from '@temporalio/interceptors-opentelemetry/lib/workflow/definitions';
import type { InjectedSink, WorkerOptions } from '@temporalio/worker';
import type { WorkflowInfo } from '@temporalio/workflow';
import type { ActivityTracing } from './genai';
import type { Tracing } from './sdk';

/** Path of the workflow interceptor module a tracing worker bundles (`workflows/tracing-interceptors.ts`). */
export const TRACING_WORKFLOW_INTERCEPTORS = require.resolve('../workflows/tracing-interceptors');

/**
 * What a worker that exports traces adds to its options: the activity interceptors (a span per activity attempt,
 * a child of the span that scheduled it), the workflow interceptor module (bundled with the workflows), and the
 * sink through which workflow spans leave the sandbox (never during replay).
 */
export function workerTracingOptions(tracing: Tracing): Required<Pick<WorkerOptions, 'sinks'>> & {
  interceptors: Required<Pick<NonNullable<WorkerOptions['interceptors']>, 'activity' | 'workflowModules'>>;
} {
  return {
    sinks: { exporter: slimWorkflowExporter(makeWorkflowExporter(tracing.spanProcessor, tracing.resource)) },
    interceptors: {
      activity: [
        (ctx) => ({
          inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
          outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
      workflowModules: [TRACING_WORKFLOW_INTERCEPTORS],
    },
  };
}

/**
 * The stock sink copies the whole `WorkflowInfo` (search attributes, retry policy, timeouts… some 35 attributes)
 * onto every workflow span; these few say which run a span belongs to, and the rest only weighs on each export.
 */
function slimWorkflowExporter(
  sink: InjectedSink<OpenTelemetryWorkflowExporter>,
): InjectedSink<OpenTelemetryWorkflowExporter> {
  return {
    export: {
      ...sink.export,
      fn: (info, spans) => {
        const kept = {
          workflowId: info.workflowId,
          runId: info.runId,
          workflowType: info.workflowType,
          taskQueue: info.taskQueue,
          attempt: info.attempt,
          historyLength: info.historyLength,
        };
        return sink.export.fn(kept as WorkflowInfo, spans);
      },
    },
  };
}

/** What the activities trace with: the process's tracer and its content-capture setting. */
export function activityTracing(tracing: Tracing): ActivityTracing {
  return { tracer: tracing.tracer, captureMessageContent: tracing.config.captureMessageContent };
}
