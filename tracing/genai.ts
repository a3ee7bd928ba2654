import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import type { TokenCounts } from '../common';

/**
 * OpenTelemetry GenAI semantic-convention attribute names. They are still "incubating" upstream, whose constants
 * the OpenTelemetry project asks libraries to copy rather than import.
 */
export const GenAi = {
  operationName: 'gen_ai.operation.name',
  providerName: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  responseFinishReasons: 'gen_ai.response.finish_reasons',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  cacheReadInputTokens: 'gen_ai.usage.cache_read.input_tokens',
  inputMessages: 'gen_ai.input.messages',
  outputMessages: 'gen_ai.output.messages',
  toolName: 'gen_ai.tool.name',
  toolCallId: 'gen_ai.tool.call.id',
  toolType: 'gen_ai.tool.type',
  toolCallArguments: 'gen_ai.tool.call.arguments',
  toolCallResult: 'gen_ai.tool.call.result',
} as const;

/** turnflow's own span attributes: where in a turn a span belongs. */
export const TurnAttr = {
  turnId: 'turnflow.turn_id',
  hop: 'turnflow.hop',
  attempt: 'turnflow.attempt',
  /** Usage was not reported by the provider for this attempt (recorded as such, never guessed). */
  usageReported: 'turnflow.usage_reported',
} as const;

/** Longest message text put in a span when content capture is on. */
export const MAX_CAPTURED_CHARS = 16_000;

/** What the activities trace with (`ActivityDeps.tracing`); absent, they create no spans at all. */
export interface ActivityTracing {
  tracer: Tracer;
  /** `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`: messages, tool arguments and results go in spans. */
  captureMessageContent: boolean;
}

/** Starts the `chat <model>` span of one LLM attempt, a child of the active span (the activity's). */
export function startLlmAttemptSpan(
  tracing: ActivityTracing,
  a: { turnId: string; hop: number; attempt: number; model: string },
): Span {
  return tracing.tracer.startSpan(`chat ${a.model}`, {
    kind: SpanKind.CLIENT,
    attributes: {
      [GenAi.operationName]: 'chat',
      // The API spoken (any OpenAI-compatible endpoint), as the GenAI metrics label it.
      [GenAi.providerName]: 'openai',
      [GenAi.requestModel]: a.model,
      [TurnAttr.turnId]: a.turnId,
      [TurnAttr.hop]: a.hop,
      [TurnAttr.attempt]: a.attempt,
    },
  });
}

/** Links an attempt's span to the span of the attempt it replaced. */
export function linkToReplacedAttempt(span: Span, replaced: { traceId: string; spanId: string }, attempt: number) {
  span.addLink({
    context: { traceId: replaced.traceId, spanId: replaced.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true },
    attributes: { 'turnflow.link': 'replaces_attempt', [TurnAttr.attempt]: attempt },
  });
}

/** Ends an attempt's span that got a whole response. */
export function endLlmAttemptSpan(span: Span, r: { tokens: TokenCounts | null; finishReason: string | null }): void {
  const attributes: Attributes = { [TurnAttr.usageReported]: r.tokens !== null };
  if (r.tokens) {
    attributes[GenAi.inputTokens] = r.tokens.inputTokens;
    attributes[GenAi.outputTokens] = r.tokens.outputTokens;
    attributes[GenAi.cacheReadInputTokens] = r.tokens.cachedInputTokens;
  }
  if (r.finishReason !== null) attributes[GenAi.responseFinishReasons] = [r.finishReason];
  span.setAttributes(attributes);
  span.end();
}

/**
 * Ends a span with an error: `errorType` is our failure's dotted type (e.g. `llm.server_error`), `message` our own
 * words (never a provider's or a tool's text). A partial usage the provider reported before failing is kept.
 */
export function failSpan(span: Span, errorType: string, message: string, tokens: TokenCounts | null = null): void {
  span.setAttribute(ATTR_ERROR_TYPE, errorType);
  if (tokens) {
    span.setAttributes({ [GenAi.inputTokens]: tokens.inputTokens, [GenAi.outputTokens]: tokens.outputTokens });
  }
  span.setStatus({ code: SpanStatusCode.ERROR, message: message.slice(0, 200) });
  span.end();
}

/** Starts the `execute_tool <name>` span of one tool call, a child of the active span (the activity's). */
export function startToolSpan(
  tracing: ActivityTracing,
  c: { turnId: string; hop: number; toolCallId: string; name: string },
): Span {
  return tracing.tracer.startSpan(`execute_tool ${c.name}`, {
    kind: SpanKind.INTERNAL,
    attributes: {
      [GenAi.operationName]: 'execute_tool',
      [GenAi.toolName]: c.name,
      [GenAi.toolCallId]: c.toolCallId,
      [GenAi.toolType]: 'function',
      [TurnAttr.turnId]: c.turnId,
      [TurnAttr.hop]: c.hop,
    },
  });
}

/** `value` as span text when content capture is on (bounded), else nothing is set. */
export function captured(tracing: ActivityTracing, span: Span, key: string, value: () => unknown): void {
  if (!tracing.captureMessageContent || !span.isRecording()) return;
  const v = value();
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  span.setAttribute(key, text.length > MAX_CAPTURED_CHARS ? text.slice(0, MAX_CAPTURED_CHARS) : text);
}
