/**
 * Workflow interceptors of a worker that exports traces (`interceptors.workflowModules`; only bundled then): the
 * stock OpenTelemetry ones (a span per workflow run, update, signal, child start and activity), plus what makes a
 * turn one trace. The conversation workflow starts each turn as a child from its own long-lived loop, so the stock
 * interceptor would put turn N in the trace of the request that started the conversation's run. Here the trace
 * context of each `submitTurn` update (the request's own) is kept by turn id and the turn's child workflow is
 * started in it, however long the turn waited in the queue and across continue-as-new (carried in a header, with
 * the ids only), and the wait itself becomes a `queue_wait` span.
 */
import * as otel from '@opentelemetry/api';
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow';
import {
  defaultPayloadConverter,
  type ContinueAsNewInput,
  type Next,
  type StartChildWorkflowExecutionInput,
  type UpdateInput,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptors,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import type { SubmitTurnInput } from './conversation';

/** Header carrying the trace contexts of the queued turns into the next run of a conversation. */
export const QUEUED_TRACES_HEADER = 'turnflow-queued-traces';

/** Trace contexts kept at most (queued turns plus requests that attached to turns already run). */
const MAX_KEPT = 256;

interface Kept {
  /** W3C `traceparent` (and `tracestate`) of the request's update span. */
  carrier: Record<string, string>;
  /** Workflow time (epoch ms) when the conversation accepted the request. */
  acceptedAt: number;
}

/** Per workflow run: the sandbox gives each workflow its own module state. */
const kept = new Map<string, Kept>();

function keep(turnId: string, entry: Kept): void {
  if (kept.has(turnId)) return;
  kept.set(turnId, entry);
  for (const oldest of kept.keys()) {
    if (kept.size <= MAX_KEPT) break;
    kept.delete(oldest);
  }
}

class TurnTraceInbound implements WorkflowInboundCallsInterceptor {
  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>) {
    const carried = input.headers[QUEUED_TRACES_HEADER];
    if (carried) {
      // Tracing must never fail a workflow task: a header it cannot read only costs the carried turns their trace.
      try {
        const entries = defaultPayloadConverter.fromPayload<[string, Kept][]>(carried);
        if (Array.isArray(entries)) for (const [turnId, entry] of entries) keep(turnId, entry);
      } catch {
        // the turns start in the run's own trace instead
      }
    }
    return next(input);
  }

  /** Runs inside the stock interceptor's `HandleUpdate` span, whose context is the one kept. */
  async handleUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'handleUpdate'>) {
    if (input.name === 'submitTurn') {
      const turnId = (input.args[0] as SubmitTurnInput | undefined)?.turn?.turnId;
      if (typeof turnId === 'string') {
        const carrier: Record<string, string> = {};
        otel.propagation.inject(otel.context.active(), carrier);
        if (carrier['traceparent']) keep(turnId, { carrier, acceptedAt: Date.now() });
      }
    }
    return next(input);
  }
}

class TurnTraceOutbound implements WorkflowOutboundCallsInterceptor {
  async startChildWorkflowExecution(
    input: StartChildWorkflowExecutionInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'startChildWorkflowExecution'>,
  ) {
    const turnId = input.options.workflowId;
    const entry = input.workflowType === 'chatTurn' && turnId ? kept.get(turnId) : undefined;
    if (!entry || !turnId) return next(input);
    kept.delete(turnId);
    const parent = otel.propagation.extract(otel.ROOT_CONTEXT, entry.carrier);
    otel.trace
      .getTracer('turnflow')
      .startSpan(
        'queue_wait',
        { startTime: new Date(entry.acceptedAt), attributes: { 'turnflow.turn_id': turnId } },
        parent,
      )
      .end(new Date());
    // The stock interceptor (next) opens its child-start span in this context and sends it in the child's headers.
    return otel.context.with(parent, () => next(input));
  }

  async continueAsNew(input: ContinueAsNewInput, next: Next<WorkflowOutboundCallsInterceptor, 'continueAsNew'>) {
    if (kept.size === 0) return next(input);
    const headers = { ...input.headers, [QUEUED_TRACES_HEADER]: defaultPayloadConverter.toPayload([...kept]) };
    return next({ ...input, headers });
  }
}

/** The workflow interceptors of a tracing worker (see the module's comment). */
export const interceptors = (): WorkflowInterceptors => ({
  // First listed runs outermost: the stock inbound span is open when ours runs; ours picks the context the stock
  // outbound one starts the child in.
  inbound: [new OpenTelemetryInboundInterceptor(), new TurnTraceInbound()],
  outbound: [new TurnTraceOutbound(), new OpenTelemetryOutboundInterceptor()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});
