/**
 * Error classes of the tool layer. Only two of them ever leave {@link runToolCall}:
 * {@link RetryableToolError} (a tool asks Temporal to retry it) and {@link ToolCallMismatchError}
 * (a caller bug). Every other failure a tool or the model causes becomes a `ToolOutcome` message the
 * model can read.
 *
 * @module
 */

/** Options shared by our error classes; `cause` is always passed on to `Error`. */
interface ErrorOptions {
  readonly cause?: unknown;
}

/**
 * Thrown by {@link createToolRegistry} (so the worker refuses to start) when the tool configuration
 * is invalid: duplicate names, names not matching `^[a-zA-Z0-9_-]{1,64}$`, an empty description, a
 * parameters schema that is not a zod schema of a JSON object (or cannot be written as JSON
 * Schema), or bad `timeoutMs` / `retry` values. `problems` lists every problem found, one a line.
 */
export class ToolConfigError extends Error {
  override readonly name = 'ToolConfigError';
  /** Every problem found, each naming the tool it concerns. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[], options: ErrorOptions = {}) {
    super(`Invalid tool configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, options);
    this.problems = problems;
  }
}

/**
 * Thrown by `ToolRegistry.subset` when a turn asks for tools the registry does not have. This is
 * bad caller input (not model output), so it is an error rather than a message.
 */
export class UnknownToolsError extends Error {
  override readonly name = 'UnknownToolsError';
  /** The requested names the registry does not know. */
  readonly unknown: readonly string[];
  /** Every name the registry knows. */
  readonly known: readonly string[];

  constructor(unknown: readonly string[], known: readonly string[], options: ErrorOptions = {}) {
    const list = known.length > 0 ? known.join(', ') : '(none)';
    super(`Unknown tool(s): ${unknown.join(', ')}. Known tools: ${list}`, options);
    this.unknown = unknown;
    this.known = known;
  }
}

/**
 * Thrown by a tool's `execute` for a transient failure (network blip, 429/5xx from the system it
 * calls, lock contention) that a later attempt may not hit. {@link runToolCall} rethrows it
 * unchanged so the activity fails and Temporal retries it under the tool's retry policy, with the same
 * idempotency key. Anything else a tool throws is reported to the model instead.
 */
export class RetryableToolError extends Error {
  override readonly name = 'RetryableToolError';
  /** How long to wait before the next attempt (e.g. from a `Retry-After` header); default: the retry policy's backoff. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: ErrorOptions & { readonly retryAfterMs?: number } = {}) {
    super(message, { cause: options.cause });
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * The abort reason {@link runToolCall} gives a tool's `ctx.signal` when the tool runs past its
 * timeout. It is never thrown to the caller: the model reads a `timeout` outcome instead.
 */
export class ToolTimeoutError extends Error {
  override readonly name = 'ToolTimeoutError';
  /** The tool that timed out. */
  readonly toolName: string;
  /** The time budget it had, in milliseconds. */
  readonly timeoutMs: number;

  constructor(toolName: string, timeoutMs: number, options: ErrorOptions = {}) {
    super(`Tool "${toolName}" timed out after ${timeoutMs} ms`, options);
    this.toolName = toolName;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Thrown by {@link runToolCall} when `ctx.toolCallId` is not the id of the call being run: the
 * idempotency key would belong to another call, so running the tool could repeat or skip a side
 * effect. A caller bug; never retryable.
 */
export class ToolCallMismatchError extends Error {
  override readonly name = 'ToolCallMismatchError';
  /** The id of the call being run. */
  readonly callId: string;
  /** The id the context was built for. */
  readonly contextToolCallId: string;

  constructor(callId: string, contextToolCallId: string, options: ErrorOptions = {}) {
    super(`Tool call id "${callId}" does not match the context's toolCallId "${contextToolCallId}"`, options);
    this.callId = callId;
    this.contextToolCallId = contextToolCallId;
  }
}

/**
 * Thrown by the arithmetic evaluator behind the `calculate` tool for a syntax error, division by
 * zero, a non-finite or non-real result, an unknown name, or an expression over the length or
 * nesting limits. The message (`At position 4: division by zero`) names the 0-based `position` and
 * points at it with a caret under the expression, so the model can fix it.
 */
export class CalculationError extends Error {
  override readonly name = 'CalculationError';
  /** 0-based offset into `expression` the problem is at. */
  readonly position: number;
  /** The expression being evaluated. */
  readonly expression: string;

  constructor(problem: string, expression: string, position: number, options: ErrorOptions = {}) {
    super(`At position ${position}: ${problem}\n${pointAt(expression, position)}`, options);
    this.position = position;
    this.expression = expression;
  }
}

/** Two lines: the expression (a window of it around `position` if long), and a caret under `position`. */
function pointAt(expression: string, position: number): string {
  const flat = expression.replace(/\s/g, ' ');
  const start = flat.length > 80 ? Math.max(0, position - 40) : 0;
  const end = flat.length > 80 ? Math.min(flat.length, position + 40) : flat.length;
  const line = `${start > 0 ? '…' : ''}${flat.slice(start, end)}${end < flat.length ? '…' : ''}`;
  const caret = position - start + (start > 0 ? 1 : 0);
  return `  ${line}\n  ${' '.repeat(Math.max(0, caret))}^`;
}
