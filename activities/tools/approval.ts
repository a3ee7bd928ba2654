import type { ApprovalContext, Tool } from './define';
import type { ToolCall } from './run';
import { parseArguments } from './run';

/** Longest reason an approval function may give a person; longer ones are cut. */
export const MAX_APPROVAL_REASON_CHARS = 1_000;

/** Whether one call needs a person's approval, and what to tell them. */
export type ApprovalNeed = { readonly required: false } | { readonly required: true; readonly reason: string | null };

/**
 * Decides whether `call` needs a person's approval before it runs. `forced` (the worker's `TURNFLOW_APPROVAL_TOOLS`
 * or the turn's `approvalTools` name the tool) requires it whatever the tool says. Otherwise the tool's `approval`
 * decides: a function sees the arguments as the tool would (parsed and validated); arguments the tool would refuse
 * need no approval, since the call runs nothing but the refusal. A function that throws requires approval: an
 * approval rule that fails must not wave a call through.
 */
export async function approvalNeed(
  tool: Tool | undefined,
  call: ToolCall,
  ctx: ApprovalContext,
  forced: boolean,
): Promise<ApprovalNeed> {
  // A call to a tool the turn does not offer runs nothing: there is nothing to approve.
  if (tool === undefined) return { required: false };
  if (forced) return { required: true, reason: null };
  const rule = tool.approval ?? 'never';
  if (rule === 'user') return { required: true, reason: null };
  if (rule === 'never') return { required: false };
  const json = parseArguments(call.arguments);
  if (!json.ok) return { required: false };
  const args = await tool.parameters.safeParseAsync(json.value);
  if (!args.success) return { required: false };
  try {
    const decided = await rule(args.data, ctx);
    if (decided === 'never') return { required: false };
    if (decided === 'user') return { required: true, reason: null };
    return { required: true, reason: boundReason(decided.reason) };
  } catch {
    return { required: true, reason: null };
  }
}

function boundReason(reason: unknown): string | null {
  if (typeof reason !== 'string' || reason.trim() === '') return null;
  return reason.length > MAX_APPROVAL_REASON_CHARS ? `${reason.slice(0, MAX_APPROVAL_REASON_CHARS - 1)}…` : reason;
}
