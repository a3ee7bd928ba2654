import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbstractChat,
  DefaultChatTransport,
  lastAssistantMessageIsCompleteWithApprovalResponses,
  readUIMessageStream,
  validateUIMessages,
  type ChatState,
  type ChatStatus,
  type DynamicToolUIPart,
  type UIMessage,
  type UIMessageChunk,
} from 'ai';
import { listPendingApprovals } from '../../client';
import { uniqueId } from '../support';
import { gatewayHarness, TOKENS, type GatewayHarness } from '../gateway/harness';
import { fold, readUiStream, textOf } from '../chat/ui-stream';
import { approvalTools, decided, requested } from './approval-tools';

/** The answer `held` continued by a stream's parts, folded by the `ai` package's own reader. */
async function continueFold(held: UIMessage, chunks: UIMessageChunk[]): Promise<UIMessage> {
  const stream = new ReadableStream<UIMessageChunk>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  let message = held;
  for await (const state of readUIMessageStream({ message: structuredClone(held), stream, terminateOnError: true })) {
    message = state;
  }
  return message;
}

class TestChatState implements ChatState<UIMessage> {
  status: ChatStatus = 'ready';
  error: Error | undefined = undefined;
  constructor(public messages: UIMessage[]) {}
  pushMessage = (message: UIMessage): void => {
    this.messages = [...this.messages, message];
  };
  popMessage = (): void => {
    this.messages = this.messages.slice(0, -1);
  };
  replaceMessage = (index: number, message: UIMessage): void => {
    this.messages = this.messages.map((m, i) => (i === index ? message : m));
  };
  snapshot = <T>(thing: T): T => structuredClone(thing);
}

/** The `ai` package's own chat client, as `useChat` runs it, against the gateway. */
class TestChat extends AbstractChat<UIMessage> {
  constructor(g: GatewayHarness, id: string, messages: UIMessage[] = []) {
    super({
      id,
      generateId: () => uniqueId('m'),
      state: new TestChatState(messages),
      transport: new DefaultChatTransport({
        api: `${g.server.url}/v1/chat`,
        headers: { Authorization: `Bearer ${TOKENS.acme}` },
      }),
      sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
    });
  }

  /** Waits until the chat is idle and `ok` holds. */
  async settle(ok: (chat: TestChat) => boolean = () => true, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.status === 'submitted' || this.status === 'streaming' || !ok(this)) {
      assert.ok(Date.now() < deadline, `chat never settled: ${this.status} ${JSON.stringify(this.messages.at(-1))}`);
      await sleep(50);
    }
    assert.equal(this.status, 'ready', String(this.error));
  }
}

type ToolPart = DynamicToolUIPart & { approval?: { id: string; approved?: boolean; reason?: string } };
const toolParts = (m: UIMessage | undefined): ToolPart[] =>
  (m?.parts ?? []).filter((p): p is ToolPart => p.type === 'dynamic-tool');
const part = (m: UIMessage | undefined, toolCallId: string) => toolParts(m).find((p) => p.toolCallId === toolCallId)!;

const MAIL = { id: 'call_mail', name: 'send_email', arguments: '{"to":"a@b.c"}' };
const BIG = { id: 'call_big', name: 'refund', arguments: '{"orderId":"A-1","amount":250}' };
const SMALL = { id: 'call_small', name: 'refund', arguments: '{"orderId":"A-2","amount":40}' };

describe('approvals through useChat', function () {
  this.timeout(240_000);
  let g: GatewayHarness;
  let chatId: string;

  beforeEach(async () => {
    g = await gatewayHarness();
    chatId = uniqueId('chat');
  });
  afterEach(async () => {
    await g.close();
  });

  const post = (body: unknown, token: string = TOKENS.acme) =>
    g.request('/v1/chat', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      token,
    });
  const history = async () => (await (await g.request(`/v1/chat/${chatId}/messages`)).json()) as UIMessage[];
  /** The body `addToolApprovalResponse` makes useChat send: the chat with its answer's parts decided. */
  const approvalBody = (messages: UIMessage[], decisions: Record<string, boolean>) => {
    const answer = structuredClone(messages.at(-1)!);
    for (const p of toolParts(answer)) {
      const approved = decisions[p.toolCallId];
      if (approved === undefined || p.state !== 'approval-requested') continue;
      Object.assign(p, { state: 'approval-responded', approval: { id: p.approval.id, approved } });
    }
    return {
      id: chatId,
      messages: [...messages.slice(0, -1), answer],
      trigger: 'submit-message',
      messageId: answer.id,
    };
  };

  it('AbstractChat with addToolApprovalResponse: approve one, deny one with a reason; the same answer continues', async () => {
    const { runs, tools } = approvalTools();
    g.h.llm.enqueue(
      { steps: [{ toolCalls: [MAIL, BIG, SMALL] }] },
      { steps: [{ text: 'Mailed; the refund was denied.' }] },
    );
    await g.h.withWorker(
      async () => {
        const chat = new TestChat(g, chatId);
        await chat.sendMessage({ text: 'mail and refund' });
        await chat.settle();
        const [user, answer] = chat.messages;
        assert.equal(chat.messages.length, 2);
        assert.equal(answer!.id, `${user!.id}-answer`);
        assert.deepEqual(
          toolParts(answer).map((p) => [p.toolCallId, p.state]),
          [
            ['call_mail', 'approval-requested'],
            ['call_big', 'approval-requested'],
            ['call_small', 'output-available'],
          ],
        );
        assert.equal(part(answer, 'call_big').approval?.requestReason, 'refund of 250 is above 100');
        assert.equal(g.h.llm.requests.length, 1, 'the stream ended while the turn waits');
        assert.deepEqual(
          runs.map((r) => r.args),
          [{ orderId: 'A-2', amount: 40 }],
        );

        await chat.addToolApprovalResponse({ id: part(answer, 'call_mail').approval!.id, approved: true });
        await chat.addToolApprovalResponse({
          id: part(answer, 'call_big').approval!.id,
          approved: false,
          reason: 'too much',
        });
        await chat.settle((c) => textOf(c.messages.at(-1)!) !== '');
        const continued = chat.messages.at(-1)!;
        assert.equal(chat.messages.length, 2, 'no new message: the answer continued');
        assert.equal(continued.id, answer!.id);
        assert.equal(textOf(continued), 'Mailed; the refund was denied.');
        assert.deepEqual(
          toolParts(continued).map((p) => [p.toolCallId, p.state, p.approval?.approved]),
          [
            ['call_mail', 'output-available', true],
            ['call_big', 'output-denied', false],
            ['call_small', 'output-available', undefined],
          ],
        );
        const listed = await history();
        await validateUIMessages({ messages: listed });
        assert.deepEqual(
          toolParts(listed.at(-1)).map((p) => [p.toolCallId, p.state, p.approval?.approved]),
          toolParts(continued).map((p) => [p.toolCallId, p.state, p.approval?.approved]),
        );
        assert.equal(textOf(listed.at(-1)!), 'Mailed; the refund was denied.');
      },
      { tools },
    );
    assert.deepEqual(runs.map((r) => r.tool).sort(), ['refund', 'send_email'], 'the denied refund never ran');
    const toolMessages = (
      g.h.llm.requests[1]!.body.messages as { role: string; tool_call_id?: string; content?: unknown }[]
    ).filter((m) => m.role === 'tool');
    assert.equal(
      toolMessages.find((m) => m.tool_call_id === 'call_big')?.content,
      'The user denied this tool call, so it did not run. Reason: too much',
    );
  });

  it('a reload while a call waits shows it again: /messages holds it, /stream replays to the request and ends', async () => {
    const { runs, tools } = approvalTools();
    g.h.llm.enqueue({ steps: [{ text: 'Let me mail.' }, { toolCalls: [MAIL] }] }, { steps: [{ text: 'Sent.' }] });
    await g.h.withWorker(
      async () => {
        const first = new TestChat(g, chatId);
        await first.sendMessage({ text: 'mail a@b.c' });
        await first.settle();

        // The page is reloaded: a new client from the history, resuming the running turn's stream.
        const listed = await history();
        await validateUIMessages({ messages: listed });
        assert.equal(listed.length, 2);
        assert.deepEqual(
          toolParts(listed[1]).map((p) => [p.toolCallId, p.state]),
          [['call_mail', 'approval-requested']],
        );
        const replay = await readUiStream(await g.request(`/v1/chat/${chatId}/stream`));
        assert.ok(replay.done, 'the replay ends while the turn waits');
        const last = replay.chunks.at(-1);
        assert.ok(last?.type === 'finish');
        assert.equal((last.messageMetadata as { status?: string }).status, 'awaiting_approval');
        const { message: replayed } = await fold(replay.chunks);
        assert.equal(replayed.id, listed[1]!.id);
        assert.deepEqual(replayed.parts, listed[1]!.parts);

        const reloaded = new TestChat(g, chatId, listed);
        await reloaded.resumeStream();
        await reloaded.settle();
        assert.equal(reloaded.messages.length, 2);
        assert.equal(part(reloaded.messages[1], 'call_mail').state, 'approval-requested');
        assert.equal(runs.length, 0);
        await reloaded.addToolApprovalResponse({
          id: part(reloaded.messages[1], 'call_mail').approval!.id,
          approved: true,
        });
        await reloaded.settle((c) => textOf(c.messages.at(-1)!).includes('Sent.'));
        assert.equal(textOf(reloaded.messages[1]!), 'Let me mail.Sent.');
        // Nothing waits any more: the chat has no running turn to resume.
        for (let i = 0; i < 100 && (await g.request(`/v1/chat/${chatId}/stream`)).status !== 204; i++) await sleep(100);
        assert.equal((await g.request(`/v1/chat/${chatId}/stream`)).status, 204);
      },
      { tools },
    );
    assert.equal(runs.length, 1);
  });

  it('a new chat message instead of a decision denies the waiting call (output-denied) and answers the new message', async () => {
    const { runs, tools } = approvalTools();
    g.h.llm.enqueue({ steps: [{ toolCalls: [MAIL] }] }, { steps: [{ text: 'Fine, no mail then.' }] });
    await g.h.withWorker(
      async () => {
        const chat = new TestChat(g, chatId);
        await chat.sendMessage({ text: 'mail a@b.c' });
        await chat.settle();
        assert.equal(part(chat.messages[1], 'call_mail').state, 'approval-requested');
        await chat.sendMessage({ text: 'never mind' });
        await chat.settle((c) => textOf(c.messages.at(-1)!) !== '');
        assert.equal(textOf(chat.messages.at(-1)!), 'Fine, no mail then.');
        const listed = await history();
        await validateUIMessages({ messages: listed });
        assert.deepEqual(
          listed.map((m) => m.role),
          ['user', 'assistant', 'user', 'assistant'],
        );
        assert.deepEqual(
          toolParts(listed[1]).map((p) => [p.state, p.approval?.approved]),
          [['output-denied', false]],
        );
        // The model saw the denied call before the new message.
        const seen = g.h.llm.requests[1]!.body.messages as { role: string; content?: unknown }[];
        assert.deepEqual(
          seen.map((m) => m.role),
          ['user', 'assistant', 'tool', 'assistant', 'user'],
        );
      },
      { tools },
    );
    assert.equal(runs.length, 0);
  });

  it('refuses a tampered approval-responded part (4xx) and runs nothing; a contradicting decision is 409 even after the turn', async () => {
    const { runs, tools } = approvalTools();
    g.h.llm.enqueue({ steps: [{ toolCalls: [MAIL] }] }, { steps: [{ text: 'Sent.' }] });
    await g.h.withWorker(
      async () => {
        const messageId = uniqueId('m');
        const started = await readUiStream(
          await post({
            id: chatId,
            messages: [{ id: messageId, role: 'user', parts: [{ type: 'text', text: 'mail' }] }],
            trigger: 'submit-message',
          }),
        );
        assert.ok(started.done);
        const turnId = `turn/acme/${chatId}/${messageId}`;
        const [req] = await requested(g.h.env, turnId, 1);
        const messages = await history();
        const good = approvalBody(messages, { call_mail: true });
        const tamper = (edit: (p: Record<string, unknown>) => void) => {
          const body = structuredClone(good);
          edit(toolParts(body.messages.at(-1)).find((p) => p.toolCallId === 'call_mail') as never);
          return body;
        };
        const refusals: [string, unknown, string?][] = [
          ['unknown approval', tamper((p) => ((p['approval'] as { id: string }).id = 'apr_unknown'))],
          ['another call', tamper((p) => (p['toolCallId'] = 'call_other'))],
          [
            'another answer',
            {
              ...good,
              messages: good.messages.map((m, i) => (i === 1 ? { ...m, id: 'x-answer' } : m)),
              messageId: 'x-answer',
            },
          ],
          ['another chat', { ...good, id: uniqueId('chat') }],
          ["another tenant's", good, TOKENS.globex],
          ['no decision', tamper((p) => delete (p['approval'] as { approved?: boolean }).approved)],
        ];
        for (const [what, body, token] of refusals) {
          const res = await post(body, token);
          assert.ok(res.status === 404 || res.status === 400, `${what}: ${res.status}`);
          await res.body?.cancel();
        }
        assert.equal(runs.length, 0, 'nothing ran');
        assert.deepEqual(
          (await listPendingApprovals(g.h.env.pool, 'acme')).approvals
            .filter((a) => a.turnId === turnId)
            .map((a) => a.approvalId),
          [req!.approvalId],
          'the approval still waits',
        );

        const approved = await readUiStream(await post(good));
        const message = await continueFold(messages.at(-1)!, approved.chunks);
        assert.equal(message.id, `${messageId}-answer`);
        assert.equal(textOf(message), 'Sent.');
        assert.deepEqual(
          approved.chunks.filter((c) => c.type.startsWith('tool-')).map((c) => c.type),
          ['tool-approval-response', 'tool-output-available'],
        );
        // After the turn ended: the same decision again replays the continuation; the other one is refused.
        const again = await readUiStream(await post(good));
        assert.equal(textOf(await continueFold(messages.at(-1)!, again.chunks)), 'Sent.');
        const contradicting = await post(approvalBody(messages, { call_mail: false }));
        assert.equal(contradicting.status, 409);
        const refused = (await contradicting.json()) as { decision: { approved: boolean; decidedBy: string } };
        assert.deepEqual([refused.decision.approved, refused.decision.decidedBy], [true, 'user']);
        assert.deepEqual(
          (await decided(g.h.env, turnId)).map((d) => d.approved),
          [true],
        );
      },
      { tools },
    );
    assert.equal(runs.length, 1);
  });
});
