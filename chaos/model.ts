import type { RecordedRequest, Responder, ScriptInput } from '../scripted-llm';
import { faultChunk, faultFor, parseMessage, planTurn, toolResultFor, type Fault, type TurnPlan } from './plan';

/** Which (turn, hop, attempt) a request to the model served: the supervisor aims stream kills with it. */
export interface ServedRequest {
  index: number;
  hop: number;
  attempt: number;
  fault: Fault | null;
}

/** Pacing of the model's chunks: slow enough that kills and drops land mid-stream. */
const CHUNK_DELAY_MS = 15;

/**
 * The chaos run's model: answers each request from the turn's plan, read back from the user message, so the answer
 * does not depend on anything the code under test did. The hop is the number of tool rounds in the request; a
 * request whose tool results are not the ones the plan's calls return is answered with a text that can never match.
 * The first two attempts of a hop may carry a fault.
 */
export function chaosModel(served: Map<number, ServedRequest>): { responder: Responder; faults: () => number } {
  const attempts = new Map<string, number>();
  let faults = 0;
  const responder: Responder = (request: RecordedRequest): ScriptInput => {
    // The model answers the conversation's latest user message (a steered one takes the turn over from there):
    // its hop is the number of tool rounds after it.
    const all = request.body.messages;
    const last = all.findLastIndex((m) => m.role === 'user');
    const user = all[last];
    const parsed = typeof user?.content === 'string' ? parseMessage(user.content) : undefined;
    if (!parsed) return { steps: [{ text: 'not a chaos turn' }] };
    const plan = planTurn(parsed.seed, parsed.index);
    const messages = all.slice(last);
    const hop = messages.filter((m) => m.role === 'assistant' && (m.tool_calls?.length ?? 0) > 0).length;
    const key = `${parsed.index}:${hop}`;
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    const fault = plan.expectFailure ? null : faultFor(parsed.seed, parsed.index, hop, attempt);
    served.set(request.index, { index: parsed.index, hop, attempt, fault });

    const problem = earlierProblem(plan, all.slice(0, last)) ?? contextProblem(plan, messages, hop);
    if (problem) return { steps: [{ text: `CONTEXT MISMATCH: ${problem}` }] };
    if (plan.expectFailure) {
      return { httpError: { status: 400, message: 'chaos: this request is rejected on purpose' } };
    }
    const script = hopScript(plan, hop);
    if (fault) faults += 1;
    return withFault(script, fault, faultChunk(parsed.seed, parsed.index, hop, attempt));
  };
  return { responder, faults: () => faults };
}

function hopScript(plan: TurnPlan, hop: number): Exclude<ScriptInput, unknown[]> {
  const planned = plan.hops[hop];
  if (!planned) return { steps: [{ text: `CONTEXT MISMATCH: no hop ${hop} in the plan` }] };
  const steps: Exclude<ScriptInput, unknown[]>['steps'] = [{ text: planned.text }];
  if (planned.calls.length > 0) {
    steps.push({ toolCalls: planned.calls.map((c) => ({ id: c.id, name: c.tool, arguments: c.args })) });
  }
  return { steps, delayMs: CHUNK_DELAY_MS, usage: { prompt_tokens: 10, completion_tokens: 5 } };
}

function withFault(script: Exclude<ScriptInput, unknown[]>, fault: Fault | null, after: number): ScriptInput {
  switch (fault) {
    case null:
      return script;
    case '429':
      return { httpError: { status: 429, headers: { 'retry-after': '1' }, message: 'chaos: slow down' } };
    case '500':
    case '503':
      return { httpError: { status: Number(fault), message: `chaos: ${fault}` } };
    case 'reset':
      return { ...script, dropAfterChunks: after };
    case 'truncate':
      return { ...script, closeAfterChunks: after };
    case 'stall':
      return { ...script, stallAfterChunks: after };
    case 'malformed':
      return { ...script, malformedAfterChunks: after };
  }
}

/**
 * Why the conversation before the latest user message cannot be this one's, or `undefined`: every earlier user
 * message must be an earlier message of the same conversation, each once, in the order they were sent (which is the
 * order they were accepted: a conversation's messages are sent one after another). What earlier turns answered is
 * checked against Postgres by the checker.
 */
function earlierProblem(plan: TurnPlan, earlier: RecordedRequest['body']['messages']): string | undefined {
  let previous = -1;
  for (const message of earlier) {
    if (message.role !== 'user') continue;
    const parsed = typeof message.content === 'string' ? parseMessage(message.content) : undefined;
    if (!parsed) return 'an earlier user message is not a chaos message';
    const earlierPlan = planTurn(parsed.seed, parsed.index);
    if (earlierPlan.conversationId !== plan.conversationId) return `message ${parsed.index} is another conversation's`;
    if (parsed.index <= previous || parsed.index >= plan.index) return `message ${parsed.index} is out of order`;
    previous = parsed.index;
  }
  return undefined;
}

/** Why the request's history is not what the plan says the model was shown, or `undefined` when it is. */
function contextProblem(
  plan: TurnPlan,
  messages: RecordedRequest['body']['messages'],
  hop: number,
): string | undefined {
  const users = messages.filter((m) => m.role === 'user');
  if (users.length !== 1 || users[0]?.content !== plan.message) return `expected one user message, got ${users.length}`;
  let h = 0;
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    if (message.role !== 'assistant' || (message.tool_calls?.length ?? 0) === 0) continue;
    const planned = plan.hops[h];
    if (!planned) return `hop ${h} is not in the plan`;
    if (message.content !== planned.text) return `hop ${h} text differs`;
    const results = messages.slice(i + 1, i + 1 + planned.calls.length);
    for (const [n, call] of planned.calls.entries()) {
      const result = results[n];
      if (result?.role !== 'tool' || result.content !== toolResultFor(call.args)) {
        return `hop ${h} call ${n} result differs`;
      }
    }
    h += 1;
  }
  return h === hop ? undefined : `counted ${h} tool rounds`;
}
