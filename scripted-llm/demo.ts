import type { ChatMessage, ChatRequest } from './request';
import type { Script } from './script';

/** Token pacing of the demo model, so a demo visibly streams. */
export const DEMO_DELAY_MS = 20;

const TIME_WORDS = /\b(time|clock|o'clock|hour)\b/i;
const ARITHMETIC_RUN = /[\d.()\s+\-*/%^]+/g;
const HAS_OPERATION = /\d\s*\)?\s*[-+*/%^]\s*\(?\s*\d/;

/**
 * The offline demo "model": a few obvious rules.
 * - The last message is a user message and the request offers `get_current_time` / `calculate`:
 *   a question about the time or an arithmetic expression gets a call to that tool (both: two
 *   parallel calls).
 * - The last message is a tool result: a sentence summarising the tool results.
 * - Anything else: a friendly echo of the user's words.
 */
export function demoScript(request: ChatRequest): Script {
  const { messages } = request;
  const last = messages[messages.length - 1];
  if (last?.role === 'tool') return paced(summariseToolResults(messages));

  const said = last?.role === 'user' ? contentText(last.content).trim() : '';
  const offered = new Set((request.tools ?? []).map((tool) => tool.function?.name));
  const toolCalls: { name: string; arguments: string }[] = [];
  if (offered.has('get_current_time') && TIME_WORDS.test(said)) {
    toolCalls.push({ name: 'get_current_time', arguments: JSON.stringify({ timezone: 'UTC' }) });
  }
  const expression = findExpression(said);
  if (offered.has('calculate') && expression !== undefined) {
    toolCalls.push({ name: 'calculate', arguments: JSON.stringify({ expression }) });
  }
  if (toolCalls.length > 0) return { steps: [{ toolCalls }], delayMs: DEMO_DELAY_MS };

  const echo = said === '' ? 'Hello!' : `You said: "${truncate(said, 200)}".`;
  return paced(
    `${echo} I am the turnflow demo model, running offline. ` +
      'Ask me what time it is, or to calculate 12 * (3 + 4), to watch a tool call go through the turn.',
  );
}

function paced(text: string): Script {
  return { steps: [{ text }], delayMs: DEMO_DELAY_MS };
}

function summariseToolResults(messages: readonly ChatMessage[]): string {
  const names = new Map<string, string>();
  for (const message of messages) {
    for (const call of message.tool_calls ?? []) names.set(call.id, call.function?.name ?? 'a tool');
  }
  const results: string[] = [];
  for (let i = messages.length - 1; i >= 0 && messages[i]?.role === 'tool'; i--) {
    const message = messages[i];
    const name = names.get(message?.tool_call_id ?? '') ?? 'a tool';
    results.unshift(`${name} returned ${truncate(contentText(message?.content).trim(), 300)}`);
  }
  return `Here is what I found: ${results.join('; ')}.`;
}

/** Message content as plain text: a string, or the text parts of a content array. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part: unknown) =>
      typeof part === 'object' && part !== null && 'text' in part && typeof part.text === 'string' ? part.text : '',
    )
    .join('');
}

function findExpression(text: string): string | undefined {
  for (const run of text.match(ARITHMETIC_RUN) ?? []) {
    const candidate = run.replace(/^[.\s]+|[.\s]+$/g, ''); // sentence dots are not decimals
    if (HAS_OPERATION.test(candidate)) return candidate;
  }
  return undefined;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
