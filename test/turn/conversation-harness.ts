import assert from 'node:assert/strict';
import type { RecordedRequest, ScriptInput } from '../../scripted-llm';
import { listConversationTurns, startOrderedTurn, type OrderedStart } from '../../client';
import { TurnEvent, type DoubleTextingPolicy } from '../../common';
import { uniqueId } from '../support';
import { storedEvents, type TurnHarness } from './harness';

/** A chat message as the model received it (only what the ordering tests compare). */
export interface SeenMessage {
  role: string;
  content: string | null;
  tool_call_id?: string;
}

/** The messages of one LLM request, without tool-call details of assistant messages. */
export function seenMessages(request: RecordedRequest): SeenMessage[] {
  return request.body.messages.map((m) => {
    const message = m as { role: string; content?: unknown; tool_call_id?: string };
    const content = typeof message.content === 'string' ? message.content : null;
    return message.tool_call_id === undefined
      ? { role: message.role, content }
      : { role: message.role, content, tool_call_id: message.tool_call_id };
  });
}

/** The LLM requests whose last message is the user message `message`. */
export function requestsFor(h: TurnHarness, message: string): RecordedRequest[] {
  return h.llm.requests.filter((r) => {
    const last = r.body.messages.at(-1) as { role: string; content?: unknown };
    return last.role === 'user' && last.content === message;
  });
}

/** The answer the scripted model gives to the user message `message` (see {@link answerByMessage}). */
export function answerTo(message: string): string {
  return `answer to ${message}`;
}

/**
 * Makes the scripted model answer by the request's last message: a user message `m` gets `scripts[m]` when given,
 * else the text {@link answerTo}(m); a request ending with tool results gets `afterTools` (or "done with tools").
 * Deciding by content, not by arrival, keeps each turn's answer its own whatever order requests come in.
 */
export function answerByMessage(
  h: TurnHarness,
  scripts: Record<string, ScriptInput> = {},
  afterTools: (request: RecordedRequest) => ScriptInput = () => ({ steps: [{ text: 'done with tools' }] }),
): void {
  h.llm.respond((request) => {
    const last = request.body.messages.at(-1) as { role: string; content?: unknown } | undefined;
    if (last?.role === 'tool') return afterTools(request);
    const content = typeof last?.content === 'string' ? last.content : '';
    return scripts[content] ?? { steps: [{ text: answerTo(content) }] };
  });
}

/** Starts a turn of the harness's conversation in order, with `policy`. */
export function sendOrdered(
  h: TurnHarness,
  message: string,
  policy: DoubleTextingPolicy,
  requestId = uniqueId('req'),
): Promise<OrderedStart> {
  return startOrderedTurn(
    { temporal: h.client, pool: h.env.pool },
    { conversationId: h.conversationId, requestId, message, doubleTexting: policy },
    // A worker process just spawned (crash tests) may take longer than the default deadline to poll on a busy machine.
    { taskQueue: h.taskQueue, startTimeoutMs: 60_000 },
  );
}

/** Polls the conversation's turns until `ok` holds (or fails after `timeoutMs`). */
export async function waitForTurns(
  h: TurnHarness,
  ok: (turns: Awaited<ReturnType<typeof listConversationTurns>>) => boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const turns = await listConversationTurns(h.client, 'default', h.conversationId);
    if (ok(turns)) return;
    if (Date.now() > deadline) throw new Error(`conversation turns never matched: ${JSON.stringify(turns)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The stored turn row (status, finish reason) and its final message. */
export async function storedTurn(h: TurnHarness, turnId: string) {
  const { rows } = await h.env.pool.query<{
    status: string;
    finish_reason: string | null;
    steered_into: string | null;
    content: string | null;
  }>(
    `SELECT t.status, t.finish_reason, t.steered_into, m.content
     FROM turns t LEFT JOIN messages m ON m.turn_id = t.id AND m.kind = 'final' WHERE t.id = $1`,
    [turnId],
  );
  return rows[0];
}

/** Waits until the turn's row is in a final state. */
export async function waitForFinished(h: TurnHarness, turnId: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await storedTurn(h, turnId);
    if (row && ['completed', 'cancelled', 'failed', 'steered'].includes(row.status)) return row;
    if (Date.now() > deadline) throw new Error(`turn ${turnId} did not finish: ${JSON.stringify(row)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The stored events of an ended turn, once its end is among them: a turn's row is ended in one transaction and its
 * `done` (or `error`) event written right after it, so a reader that saw the row ended may be a moment early.
 */
export async function waitForEndEvent(h: TurnHarness, turnId: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = (await storedEvents(h.env, turnId)).map((e) => TurnEvent.parse(e));
    const last = events.at(-1)?.type;
    if (last === 'done' || last === 'error') return events;
    if (Date.now() > deadline) throw new Error(`turn ${turnId} has no end event: ${JSON.stringify(events)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The context a turn with user messages `history` (each answered with {@link answerTo}) sends for `message`. */
export function orderedContext(history: { user: string; answer: string }[], message: string): SeenMessage[] {
  return [
    ...history.flatMap((t) => [
      { role: 'user', content: t.user },
      { role: 'assistant', content: t.answer },
    ]),
    { role: 'user', content: message },
  ];
}

/**
 * Checks a turn that a steer joined: the model was asked once after the turn's tools, with the turn's user message and
 * then `steers` (in order), and the turn's stored answer is the answer to the last of them.
 */
export async function assertSteeredAnswer(h: TurnHarness, turnId: string, first: string, steers: string[]) {
  const afterTools = h.llm.requests.filter((r) => r.body.messages.some((m) => m.role === 'tool'));
  assert.equal(afterTools.length, 1);
  assert.deepEqual(
    seenMessages(afterTools[0]!)
      .filter((m) => m.role === 'user')
      .map((m) => m.content),
    [first, ...steers],
  );
  assert.equal((await storedTurn(h, turnId))?.content, answerTo(steers.at(-1) ?? first));
}
