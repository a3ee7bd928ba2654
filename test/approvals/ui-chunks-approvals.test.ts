import assert from 'node:assert/strict';
import { readUIMessageStream, uiMessageChunkSchema, type UIMessage, type UIMessageChunk } from 'ai';
import type { TurnEvent } from '../../common';
import { UiChunkTranslator } from '../../gateway/chat/ui-chunks';

const base = { turnId: 'turn/t/c/r', prev: 0, hop: 0, attempt: 1 };
let cursor = 0;
const ev = (body: Record<string, unknown>) => ({ ...base, cursor: ++cursor, ...body }) as TurnEvent;

/** Folds the translator's parts for `events` with the `ai` package's own reader; returns the last message. */
async function fold(events: TurnEvent[]): Promise<UIMessage> {
  const t = new UiChunkTranslator('m-1');
  const chunks: UIMessageChunk[] = [...t.start(), ...events.flatMap((e) => t.event(e))];
  const schema = uiMessageChunkSchema();
  for (const chunk of chunks) {
    const checked = await schema.validate!(chunk);
    assert.ok(checked.success, `invalid part ${JSON.stringify(chunk)}`);
  }
  const stream = new ReadableStream<UIMessageChunk>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  let last: UIMessage | undefined;
  for await (const message of readUIMessageStream({ stream })) last = message;
  return last!;
}

const calls = ev({
  type: 'tool_calls',
  message: 'Executing 2 tool(s)...',
  calls: [
    { id: 'call_a', name: 'send_email', arguments: '{"to":"a@b.c"}' },
    { id: 'call_b', name: 'refund', arguments: '{"amount":500}' },
  ],
});
const requested = (toolCallId: string, approvalId: string) =>
  ev({
    type: 'approval_requested',
    approvalId,
    toolCallId,
    toolName: 'x',
    arguments: '{}',
    reason: toolCallId === 'call_b' ? 'above 100' : null,
    expiresAt: '2030-01-01T00:00:00.000Z',
  });

type ToolPart = { toolCallId: string; state: string; approval?: { id: string; approved?: boolean; reason?: string } };
const toolParts = (m: UIMessage) =>
  m.parts.filter((p) => p.type === 'dynamic-tool').map((p) => p as unknown as ToolPart);

describe('chat parts of approvals', () => {
  it('shows waiting calls as approval-requested, with the tool’s reason', async () => {
    const message = await fold([calls, requested('call_a', 'apr_a'), requested('call_b', 'apr_b')]);
    assert.deepEqual(
      toolParts(message).map((p) => [p.toolCallId, p.state, p.approval?.id]),
      [
        ['call_a', 'approval-requested', 'apr_a'],
        ['call_b', 'approval-requested', 'apr_b'],
      ],
    );
  });

  it('ends an approved call output-available and a denied one output-denied, each keeping approval.approved', async () => {
    const message = await fold([
      calls,
      requested('call_a', 'apr_a'),
      requested('call_b', 'apr_b'),
      ev({
        type: 'approval_decided',
        approvalId: 'apr_b',
        toolCallId: 'call_b',
        approved: false,
        reason: 'no',
        decidedBy: 'user',
      }),
      ev({
        type: 'approval_decided',
        approvalId: 'apr_a',
        toolCallId: 'call_a',
        approved: true,
        reason: null,
        decidedBy: 'user',
      }),
      ev({ type: 'tool_result', toolCallId: 'call_a', name: 'send_email', content: '"sent"', isError: false }),
      ev({ type: 'tool_result', toolCallId: 'call_b', name: 'refund', content: 'The user denied…', isError: true }),
      ev({ type: 'done', status: 'completed', messageId: '1', finishReason: 'stop', usage: null }),
    ]);
    assert.deepEqual(
      toolParts(message).map((p) => [p.toolCallId, p.state, p.approval?.approved, p.approval?.reason]),
      [
        ['call_a', 'output-available', true, undefined],
        ['call_b', 'output-denied', false, 'no'],
      ],
    );
  });
});
