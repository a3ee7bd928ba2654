import type { z } from 'zod';

/**
 * What a tool receives besides its arguments. Built by the activity that runs the call;
 * {@link runToolCall} hands the tool a copy whose `signal` also aborts on the tool's timeout and
 * whose `deadline` is the earlier of the caller's deadline and the tool's own.
 */
export interface ToolContext {
  /**
   * Stable across Temporal retries of the same call (see {@link toolIdempotencyKey}). Hand it to
   * every system the tool changes (e.g. an `Idempotency-Key` header) so a retry repeats nothing.
   */
  readonly idempotencyKey: string;
  /** Aborts when the call is cancelled or times out; the tool should stop work and return or throw. */
  readonly signal: AbortSignal;
  /** When the tool's time is up. */
  readonly deadline: Date;
  /** The turn (workflow) this call belongs to. */
  readonly turnId: string;
  /** The hop of the turn that asked for this call (0-based). */
  readonly hop: number;
  /** The model's id for this tool call. */
  readonly toolCallId: string;
}

/** Longest `timeoutMs` of a {@link ToolConfig.local} tool: the call runs inside a workflow task. */
export const MAX_LOCAL_TOOL_TIMEOUT_MS = 10_000;

/** Retry policy of the activity that runs a tool; see {@link ToolPolicy} for the resolved form. */
export interface ToolRetryOptions {
  /**
   * Attempts in all, including the first. Retries happen only when the tool throws
   * `RetryableToolError` (or the worker dies mid-call).
   * @default 3
   */
  readonly maximumAttempts?: number;
  /** @default 1000 */
  readonly initialIntervalMs?: number;
  /** @default 2 */
  readonly backoffCoefficient?: number;
  /** @default 30000 */
  readonly maximumIntervalMs?: number;
}

/** A zod schema whose output is a JSON object, the only kind of tool parameters providers accept. */
export type ToolParameters = z.ZodType<Record<string, unknown>>;

/** What {@link defineTool} takes. */
export interface ToolConfig<P extends ToolParameters> {
  /** Name the model calls the tool by; must match `^[a-zA-Z0-9_-]{1,64}$` and be unique in a registry. */
  readonly name: string;
  /** Tells the model what the tool does and when to use it. */
  readonly description: string;
  /** Arguments schema (an object); its JSON Schema is sent to the model and model output is validated against it. */
  readonly parameters: P;
  /**
   * Time budget of one attempt, in milliseconds; past it the tool's signal aborts and the model is
   * told the tool timed out.
   * @default 30000 (`DEFAULT_TOOL_TIMEOUT_MS`)
   */
  readonly timeoutMs?: number;
  /** Retry policy for transient failures (`RetryableToolError`). */
  readonly retry?: ToolRetryOptions;
  /**
   * Run each call as a Temporal local activity, inside the workflow task that received the model's tool calls,
   * instead of as an activity of its own: a tool hop then costs one workflow task and one activity dispatch less
   * (docs/integration.md, "Local tools"). For quick tools that wait on nothing slow (a calculation, a lookup in memory or
   * in turnflow's own database): `timeoutMs` must be set, at most {@link MAX_LOCAL_TOOL_TIMEOUT_MS}. The call keeps
   * its idempotency key, retry policy and exactly-once result; what changes is recovery: a worker lost mid-call is
   * noticed when the workflow task times out (10 s), not through its lease within a second or two.
   * @default false
   */
  readonly local?: boolean;
  /**
   * Whether a person must approve a call before it runs: `'user'` (every call), `'never'`, or a function deciding
   * per call from the validated arguments (a refund above 100, say), which may give the person a reason. The
   * worker's `TURNFLOW_APPROVAL_TOOLS` and a turn's `approvalTools` can require approval on top of this, never
   * waive it. A function that throws counts as `'user'`.
   * @default 'never'
   */
  readonly approval?: ToolApproval<z.output<P>>;
  /**
   * Does the work. Return a string (sent as-is) or any JSON-serialisable value. Throw
   * `RetryableToolError` for a transient failure; anything else thrown is shown to the model.
   */
  execute(args: z.output<P>, ctx: ToolContext): Promise<unknown>;
  /**
   * For a tool defined elsewhere (an MCP server's): its current description and JSON Schema, read each time the
   * model is offered the tool, in place of `description` and the schema derived from `parameters` (which then
   * only needs to accept a JSON object; the tool's owner validates). Absent for tools defined here.
   */
  describe?(): ToolDescription;
}

/** What {@link ToolConfig.describe} returns. */
export interface ToolDescription {
  readonly description: string;
  /** A JSON Schema of `type: 'object'`. */
  readonly parameters: Record<string, unknown>;
  /**
   * A hash of what the model is offered (name, description, schema). Stored with the hop that offered the tool; a
   * call whose tool's fingerprint changed before the call ran is refused (the model is told), so a call never runs
   * against a tool other than the one the model chose.
   */
  readonly fingerprint?: string;
  /** False when the tool's owner no longer lists it: it is not offered, and a call already made is refused. */
  readonly available?: boolean;
}

/** What a tool's approval function receives besides the arguments. */
export interface ApprovalContext {
  /** The turn (workflow) the call belongs to. */
  readonly turnId: string;
  /** The hop of the turn that asked for the call (0-based). */
  readonly hop: number;
  /** The model's id for the call. */
  readonly toolCallId: string;
}

/** A per-call approval decision: `'user'` asks a person (optionally saying why), `'never'` runs the call at once. */
export type ApprovalRequirement = 'user' | 'never' | { readonly approval: 'user'; readonly reason: string };

/** See {@link ToolConfig.approval}. */
export type ToolApproval<A = Record<string, unknown>> =
  'user' | 'never' | ((args: A, ctx: ApprovalContext) => ApprovalRequirement | Promise<ApprovalRequirement>);

/** A defined tool. */
export type Tool<P extends ToolParameters = ToolParameters> = Readonly<ToolConfig<P>>;

/**
 * Defines a tool; `execute`'s `args` are typed from `parameters`. Validation of the definition
 * happens in `createToolRegistry`, so a bad tool stops the worker at start-up.
 *
 * @example
 * ```ts
 * const echo = defineTool({
 *   name: 'echo',
 *   description: 'Repeats the text.',
 *   parameters: z.object({ text: z.string() }),
 *   execute: async ({ text }) => text,
 * });
 * ```
 */
export function defineTool<P extends ToolParameters>(config: ToolConfig<P>): Tool<P> {
  return Object.freeze({ ...config });
}

// Spelled with every other key in common/keys.ts; tools import it from here.
export { toolIdempotencyKey, type ToolCallIdentity } from '../../common';
