import { z } from 'zod';
import { isTooDeep, MAX_JSON_DEPTH } from '../../common';
import type { Tool, ToolContext } from './define';
import { RetryableToolError, ToolCallMismatchError, ToolTimeoutError } from './errors';
import type { ToolErrorType, ToolOutcome } from './outcome';
import { DEFAULT_TOOL_TIMEOUT_MS } from './policy';
import type { ToolRegistry } from './registry';

/** One tool call as the model produced it (`arguments` is the raw JSON text). */
export interface ToolCall {
  readonly id: string;
  readonly name: string;
  readonly arguments: string;
}

/** Longest excerpt of bad arguments or of a tool's error message quoted back to the model. */
const MAX_EXCERPT_CHARS = 200;
const MAX_ERROR_CHARS = 2_000;

/**
 * Runs one tool call and describes the result for the model.
 *
 * Returned as an error outcome (the model reads it and can correct itself): unknown tool (listing
 * the available ones), arguments that are not JSON, arguments the schema rejects (`z.prettifyError`),
 * a tool that throws (its message, no stack), a tool past its timeout (its signal is aborted with a
 * {@link ToolTimeoutError}), and cancellation (`ctx.signal` aborted; the tool's signal is aborted too).
 * Results are strings as-is, anything else as JSON (`undefined` → `null`). Empty arguments (`""`)
 * count as `{}`; arguments that are a JSON string holding an object are unwrapped once.
 *
 * Thrown (the activity fails and Temporal decides): {@link RetryableToolError} from the tool
 * (transient, retry with the same idempotency key) and {@link ToolCallMismatchError} (caller bug).
 * On a `cancelled` outcome the activity should still rethrow Temporal's cancellation if the
 * activity itself was cancelled or its worker is shutting down, so the call is not recorded as done.
 */
export async function runToolCall(registry: ToolRegistry, call: ToolCall, ctx: ToolContext): Promise<ToolOutcome> {
  if (ctx.toolCallId !== call.id) throw new ToolCallMismatchError(call.id, ctx.toolCallId);

  const tool = registry.get(call.name);
  if (tool === undefined) {
    const available =
      registry.names.length > 0 ? `Available tools: ${registry.names.join(', ')}.` : 'No tools are available.';
    return failure('unknown_tool', `Unknown tool "${call.name}". ${available}`);
  }

  const json = parseArguments(call.arguments);
  if (!json.ok && json.tooDeep) {
    return failure(
      'invalid_arguments',
      `Arguments for tool "${tool.name}" nest arrays and objects more than ${MAX_JSON_DEPTH} levels deep; at most ` +
        `${MAX_JSON_DEPTH} are accepted. Send a flatter JSON object matching the tool parameters.`,
    );
  }
  if (!json.ok) {
    return failure(
      'invalid_json',
      `Arguments for tool "${tool.name}" are not valid JSON (${json.reason}). Received: ${excerpt(call.arguments)}. ` +
        'Send a JSON object matching the tool parameters.',
    );
  }
  const args = await tool.parameters.safeParseAsync(json.value);
  if (!args.success) {
    return failure('invalid_arguments', `Invalid arguments for tool "${tool.name}":\n${z.prettifyError(args.error)}`);
  }

  if (ctx.signal.aborted) return failure('cancelled', `Tool "${tool.name}" was cancelled before it started.`);
  const timeoutMs = Math.min(tool.timeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS, ctx.deadline.getTime() - Date.now());
  if (timeoutMs <= 0) return failure('timeout', `Tool "${tool.name}" was not started: its deadline had passed.`);

  const settled = await executeWithin(tool, args.data, ctx, timeoutMs);
  switch (settled.kind) {
    case 'timeout':
      return failure('timeout', `Tool "${tool.name}" timed out after ${timeoutMs} ms.`);
    case 'cancelled':
      return failure('cancelled', `Tool "${tool.name}" was cancelled before it finished.`);
    case 'threw':
      if (settled.error instanceof RetryableToolError) throw settled.error;
      return failure('tool_error', `Tool "${tool.name}" failed: ${describeError(settled.error)}`);
    case 'returned':
      return serialise(tool.name, settled.value);
  }
}

type Settled =
  | { readonly kind: 'returned'; readonly value: unknown }
  | { readonly kind: 'threw'; readonly error: unknown }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'cancelled' };

/** Runs the tool, settling with whichever comes first: its result, its timeout, or cancellation. */
function executeWithin(
  tool: Tool,
  args: Record<string, unknown>,
  ctx: ToolContext,
  timeoutMs: number,
): Promise<Settled> {
  const controller = new AbortController();
  const deadline = new Date(Math.min(ctx.deadline.getTime(), Date.now() + timeoutMs));
  const toolCtx: ToolContext = { ...ctx, signal: controller.signal, deadline };
  return new Promise<Settled>((resolve) => {
    let done = false;
    const settle = (settled: Settled): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onCancel);
      resolve(settled);
    };
    const onCancel = (): void => {
      settle({ kind: 'cancelled' });
      controller.abort(ctx.signal.reason);
    };
    const timer = setTimeout(() => {
      settle({ kind: 'timeout' });
      controller.abort(new ToolTimeoutError(tool.name, timeoutMs));
    }, timeoutMs);
    ctx.signal.addEventListener('abort', onCancel, { once: true });
    try {
      // A late result or rejection after a timeout lands in `settle` and is ignored: never unhandled.
      tool.execute(args, toolCtx).then(
        (value) => settle({ kind: 'returned', value }),
        (error: unknown) => settle({ kind: 'threw', error }),
      );
    } catch (error: unknown) {
      settle({ kind: 'threw', error });
    }
  });
}

/** The outcome of {@link parseArguments}. */
export type ParsedArguments =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly reason: string; readonly tooDeep?: true };

/**
 * The model's arguments as a value, the way {@link runToolCall} reads them (empty = `{}`, double-encoding unwrapped
 * once). Nesting past `MAX_JSON_DEPTH` is refused before anything walks it: zod (a `z.json()` or `z.lazy`
 * parameter) and `JSON.stringify` recurse, and 10,000 levels overflow the stack.
 */
export function parseArguments(raw: string): ParsedArguments {
  if (raw.trim() === '') return { ok: true, value: {} };
  if (isTooDeep(raw)) return { ok: false, reason: 'nested too deeply', tooDeep: true };
  try {
    const value: unknown = JSON.parse(raw);
    // Some models double-encode: "{\"a\":1}". Unwrap once; anything else is left to the schema.
    if (typeof value === 'string' && value.trimStart().startsWith('{')) {
      if (isTooDeep(value)) return { ok: false, reason: 'nested too deeply', tooDeep: true };
      try {
        return { ok: true, value: JSON.parse(value) as unknown };
      } catch {
        return { ok: true, value };
      }
    }
    return { ok: true, value };
  } catch (err: unknown) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

function serialise(toolName: string, value: unknown): ToolOutcome {
  if (typeof value === 'string') return { content: value, isError: false };
  try {
    return { content: JSON.stringify(value) ?? 'null', isError: false };
  } catch (err: unknown) {
    return failure(
      'tool_error',
      `Tool "${toolName}" returned a result that cannot be serialised as JSON: ${describeError(err)}`,
    );
  }
}

function describeError(err: unknown): string {
  let text: string;
  if (err instanceof z.ZodError) text = z.prettifyError(err);
  else if (err instanceof Error) {
    const message = err.message === '' ? '(no message)' : err.message;
    text = err.name === 'Error' || err.name === '' ? message : `${err.name}: ${message}`;
  } else if (typeof err === 'string') text = err;
  else {
    try {
      text = JSON.stringify(err) ?? String(err);
    } catch {
      text = String(err);
    }
  }
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}… (truncated)` : text;
}

function excerpt(raw: string): string {
  const head = raw.length > MAX_EXCERPT_CHARS ? `${raw.slice(0, MAX_EXCERPT_CHARS)}…` : raw;
  return `${JSON.stringify(head)} (${raw.length} chars)`;
}

function failure(errorType: ToolErrorType, content: string): ToolOutcome {
  return { content, isError: true, errorType };
}
