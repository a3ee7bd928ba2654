import assert from 'node:assert/strict';
import type { UIMessage } from 'ai';
import { HOP_LIMIT_SEPARATOR, hopLimitWarning } from '../../common';
import { uniqueId } from '../support';
import { finalMessage } from '../turn/harness';
import { gatewayHarness, TOKENS, type GatewayHarness } from '../gateway/harness';
import { fold, readUiStream, shapeOf, textOf, toolsOf, typesOf } from './ui-stream';

/** The body `useChat` (DefaultChatTransport) posts for a new user message. */
function chatBody(chatId: string, messageId: string, text: string, extra: Record<string, unknown> = {}) {
  return {
    id: chatId,
    messages: [{ id: messageId, role: 'user', parts: [{ type: 'text', text }] }],
    trigger: 'submit-message',
    ...extra,
  };
}

describe('chat endpoints: the AI SDK UI message stream', function () {
  this.timeout(120_000);
  let g: GatewayHarness;
  let chatId: string;

  const post = (body: unknown, token: string = TOKENS.acme, signal?: AbortSignal) =>
    g.request('/v1/chat', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      token,
      ...(signal ? { signal } : {}),
    });
  const turnIdOf = (messageId: string) => `turn/acme/${chatId}/${messageId}`;
  const storedAnswer = async (messageId: string) => (await finalMessage(g.h.env, turnIdOf(messageId)))[0]?.content;

  beforeEach(async () => {
    g = await gatewayHarness();
    chatId = uniqueId('chat');
  });
  afterEach(async () => {
    await g.close();
  });

  it('streams a plain answer whose folded text is the stored answer, and lists it as history', async () => {
    g.h.llm.enqueue({ steps: [{ text: 'Plain words, streamed one by one.' }], delayMs: 2 });
    const messageId = uniqueId('m');
    const stream = await g.h.withWorker(async () => readUiStream(await post(chatBody(chatId, messageId, 'hi'))));

    assert.ok(stream.done, 'ends with [DONE]');
    const types = typesOf(stream.chunks);
    assert.deepEqual(types.slice(0, 3), ['start', 'start-step', 'text-start']);
    assert.deepEqual(types.slice(-3), ['text-end', 'finish-step', 'finish']);
    assert.deepEqual(stream.chunks[0], { type: 'start', messageId: `${messageId}-answer` });
    const finish = stream.chunks.at(-1)!;
    assert.equal(finish.type === 'finish' && finish.finishReason, 'stop');
    const { message, errors } = await fold(stream.chunks);
    assert.deepEqual(errors, []);
    assert.equal(message.id, `${messageId}-answer`);
    assert.equal(textOf(message), 'Plain words, streamed one by one.');
    assert.equal(textOf(message), await storedAnswer(messageId));

    const history = (await (await g.request(`/v1/chat/${chatId}/messages`)).json()) as UIMessage[];
    assert.deepEqual(
      history.map((m) => [m.id, m.role, textOf(m)]),
      [
        [messageId, 'user', 'hi'],
        [`${messageId}-answer`, 'assistant', 'Plain words, streamed one by one.'],
      ],
    );
    assert.deepEqual(history[1], message, 'the history holds the message the live stream folded into');
  });

  it('attaches a retried POST (same chat id and message id) to the same turn', async () => {
    g.h.llm.enqueue({ steps: [{ text: 'Only once.' }] });
    const messageId = uniqueId('m');
    const [first, second] = await g.h.withWorker(async () => {
      const first = await readUiStream(await post(chatBody(chatId, messageId, 'once')));
      const second = await readUiStream(await post(chatBody(chatId, messageId, 'once')));
      return [first, second];
    });
    assert.equal(g.h.llm.requests.length, 1, 'one model call');
    const { rows } = await g.pool.query(`SELECT id FROM turns WHERE tenant_id = 'acme' AND conversation_id = $1`, [
      chatId,
    ]);
    assert.deepEqual(rows, [{ id: turnIdOf(messageId) }]);
    assert.deepEqual(shapeOf(second.chunks), shapeOf(first.chunks), 'the replay has the shape of the live stream');
    assert.deepEqual((await fold(second.chunks)).message, (await fold(first.chunks)).message);
  });

  it('shows a tool round as a tool part with its output, one step per hop', async () => {
    g.h.llm.enqueue(
      {
        steps: [
          { text: 'Let me compute. ' },
          { toolCalls: [{ id: 'c1', name: 'calculate', arguments: { expression: '6*7' } }] },
        ],
      },
      { steps: [{ text: 'It is 42.' }] },
    );
    const messageId = uniqueId('m');
    const stream = await g.h.withWorker(async () => readUiStream(await post(chatBody(chatId, messageId, '6*7?'))));
    const { message } = await fold(stream.chunks);
    assert.equal(typesOf(stream.chunks).filter((t) => t === 'start-step').length, 2);
    assert.equal(typesOf(stream.chunks).filter((t) => t === 'finish-step').length, 2);
    assert.deepEqual(toolsOf(message), [
      { name: 'calculate', state: 'output-available', output: { expression: '6*7', result: 42 } },
    ]);
    const input = stream.chunks.find((c) => c.type === 'tool-input-available');
    assert.deepEqual(input?.type === 'tool-input-available' && input.input, { expression: '6*7' });
    assert.equal(textOf(message), 'Let me compute. It is 42.');
    assert.equal(textOf(message), await storedAnswer(messageId));
  });

  it('shows parallel calls, and a failed call as tool-output-error', async () => {
    g.h.llm.enqueue(
      {
        steps: [
          {
            toolCalls: [
              { id: 'p1', name: 'calculate', arguments: { expression: '1+1' } },
              { id: 'p2', name: 'calculate', arguments: { expression: '2+2' } },
              { id: 'p3', name: 'no_such_tool', arguments: {} },
            ],
          },
        ],
      },
      { steps: [{ text: 'Two, four, and one tool I do not have.' }] },
    );
    const messageId = uniqueId('m');
    const stream = await g.h.withWorker(async () => readUiStream(await post(chatBody(chatId, messageId, 'go'))));
    const { message } = await fold(stream.chunks);
    const tools = toolsOf(message);
    assert.deepEqual(
      tools.map((t) => [t.name, t.state]),
      [
        ['calculate', 'output-available'],
        ['calculate', 'output-available'],
        ['no_such_tool', 'output-error'],
      ],
    );
    assert.deepEqual(
      tools.slice(0, 2).map((t) => t.output),
      [
        { expression: '1+1', result: 2 },
        { expression: '2+2', result: 4 },
      ],
    );
    assert.match(tools[2]!.errorText ?? '', /no_such_tool/);
    assert.equal(textOf(message), await storedAnswer(messageId));
  });

  it('ends a turn stopped by the hop limit with the warning as text', async () => {
    const call = (id: string) => ({
      steps: [{ text: `try ${id}. ` }, { toolCalls: [{ id, name: 'calculate', arguments: '{"expression":"1"}' }] }],
    });
    g.h.llm.enqueue(call('a'), call('b'));
    const messageId = uniqueId('m');
    const stream = await g.h.withWorker(async () =>
      readUiStream(await post(chatBody(chatId, messageId, 'loop', { maxHops: 1 }))),
    );
    const { message } = await fold(stream.chunks);
    assert.equal(textOf(message), `try a. try b. ${HOP_LIMIT_SEPARATOR}${hopLimitWarning(1)}`);
    assert.equal(textOf(message), await storedAnswer(messageId));
    const finish = stream.chunks.at(-1)!;
    assert.equal(finish.type, 'finish');
    assert.equal(finish.type === 'finish' && finish.finishReason, 'other');
    assert.equal(
      finish.type === 'finish' && (finish.messageMetadata as { finishReason: string }).finishReason,
      'tool_limit_reached',
    );
  });

  for (const fault of [
    {
      name: 'a connection dropped mid-stream',
      script: { steps: [{ text: 'This attempt is cut off mid-way' }], dropAfterChunks: 3 },
    },
    { name: 'a 500 from the model', script: { httpError: { status: 500 } } },
  ]) {
    it(`turns the retry after ${fault.name} into reset-step, and folds to the stored answer`, async () => {
      g.h.llm.enqueue(fault.script, { steps: [{ text: 'The retried, complete answer.' }] });
      const messageId = uniqueId('m');
      const stream = await g.h.withWorker(async () => readUiStream(await post(chatBody(chatId, messageId, 'flaky'))));
      const types = typesOf(stream.chunks);
      const reset = types.indexOf('reset-step');
      assert.ok(reset > 0, `a reset-step in ${types.join(' ')}`);
      // The retried attempt opens a fresh text part after the reset.
      const after = stream.chunks.slice(reset + 1).find((c) => c.type === 'text-start');
      const before = stream.chunks.slice(0, reset).filter((c) => c.type === 'text-start');
      assert.ok(after?.type === 'text-start' && before.every((b) => b.type === 'text-start' && b.id !== after.id));
      const { message } = await fold(stream.chunks);
      assert.equal(textOf(message), 'The retried, complete answer.');
      assert.equal(textOf(message), await storedAnswer(messageId));
    });
  }

  it('stops generating on POST /v1/chat/:id/stop, keeping the partial answer', async () => {
    g.h.llm.enqueue({
      steps: [{ text: 'The first half' }, { waitFor: 'stop-here' }, { text: ' and never the rest.' }],
    });
    const messageId = uniqueId('m');
    const stream = await g.h.withWorker(async () => {
      const response = await post(chatBody(chatId, messageId, 'long please'));
      const reading = readUiStream(response);
      await g.h.llm.gateReached('stop-here');
      const stop = await g.request(`/v1/chat/${chatId}/stop`, { method: 'POST' });
      assert.equal(stop.status, 202);
      const stream = await reading;
      g.h.llm.release('stop-here');
      return stream;
    });
    const { message } = await fold(stream.chunks);
    const stored = await storedAnswer(messageId);
    assert.equal(textOf(message), stored);
    assert.ok(stored?.startsWith('The first half'), `stored ${stored}`);
    const finish = stream.chunks.at(-1)!;
    assert.equal(finish.type === 'finish' && (finish.messageMetadata as { status: string }).status, 'cancelled');
    const again = await g.request(`/v1/chat/${chatId}/stop`, { method: 'POST' });
    assert.equal(again.status, 204, 'nothing left to stop');
  });

  it('resumes a running answer after a reload: the replay from the start equals a live read', async () => {
    g.h.llm.enqueue({
      steps: [
        { text: 'Before the reload, ' },
        { toolCalls: [{ id: 'r1', name: 'calculate', arguments: { expression: '2*3' } }] },
      ],
    });
    g.h.llm.enqueue({ steps: [{ text: 'six' }, { waitFor: 'reload' }, { text: ', after the reload.' }] });
    const messageId = uniqueId('m');
    const { live, dropped, resumed } = await g.h.withWorker(async () => {
      const abort = new AbortController();
      const liveReading = readUiStream(await post(chatBody(chatId, messageId, 'reload me')));
      // A page that reloads: its POST read some parts, then went away.
      const page = await post(chatBody(chatId, messageId, 'reload me'), TOKENS.acme, abort.signal);
      const dropped = await readUiStream(page, { until: (_c, all) => all.length === 4 });
      abort.abort();
      await g.h.llm.gateReached('reload');
      // The page that went away holds nothing on the gateway any more: only the live reader is subscribed.
      for (const deadline = Date.now() + 10_000; g.turns.liveSubscriptions !== 1;) {
        assert.ok(Date.now() < deadline, `${g.turns.liveSubscriptions} subscriptions, expected 1`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const resume = await g.request(`/v1/chat/${chatId}/stream`);
      const resumedReading = readUiStream(resume);
      g.h.llm.release('reload');
      return { live: await liveReading, dropped, resumed: await resumedReading };
    });
    assert.equal(dropped.chunks.length, 4);
    assert.ok(
      live.chunks.filter((c) => c.type === 'text-delta').length > 1,
      'the live read got the answer delta by delta',
    );
    assert.deepEqual(shapeOf(resumed.chunks), shapeOf(live.chunks), 'the resumed stream has the shape of a live read');
    const { message } = await fold(resumed.chunks);
    assert.deepEqual(message, (await fold(live.chunks)).message, 'and folds into the same message');
    assert.equal(textOf(message), 'Before the reload, six, after the reload.');
    assert.equal(textOf(message), await storedAnswer(messageId));
    const after = await g.request(`/v1/chat/${chatId}/stream`);
    assert.equal(after.status, 204, 'no turn runs any more');
  });

  it("keeps tenants apart: another tenant's chat has no stream, no messages and nothing to stop", async () => {
    g.h.llm.enqueue({ steps: [{ text: 'acme only' }, { waitFor: 'hold' }, { text: '.' }] });
    const messageId = uniqueId('m');
    await g.h.withWorker(async () => {
      const reading = readUiStream(await post(chatBody(chatId, messageId, 'mine')));
      await g.h.llm.gateReached('hold');
      const stream = await g.request(`/v1/chat/${chatId}/stream`, { token: TOKENS.globex });
      assert.equal(stream.status, 204);
      const stop = await g.request(`/v1/chat/${chatId}/stop`, { method: 'POST', token: TOKENS.globex });
      assert.equal(stop.status, 204);
      const messages = await g.request(`/v1/chat/${chatId}/messages`, { token: TOKENS.globex });
      assert.deepEqual(await messages.json(), []);
      g.h.llm.release('hold');
      const { message } = await fold((await reading).chunks);
      assert.equal(textOf(message), 'acme only.');
    });
  });

  it('refuses bad bodies with 400 before anything starts', async () => {
    const ok = chatBody(chatId, 'm1', 'hi');
    const cases: [string, unknown, RegExp][] = [
      ['no messages', { ...ok, messages: [] }, /messages/],
      ['a chat id with a slash', { ...ok, id: 'a/b' }, /id/],
      ['an unknown key', { ...ok, tenantId: 'globex' }, /tenantId/],
      ['regenerate', { ...ok, trigger: 'regenerate-message', messageId: 'm1' }, /regenerat/],
      ['an unknown trigger', { ...ok, trigger: 'resume' }, /trigger/],
      ['an assistant message last', { ...ok, messages: [{ id: 'a1', role: 'assistant', parts: [] }] }, /user/],
      ['a user message id with spaces', chatBody(chatId, 'm 1', 'hi'), /request id/],
      ['editing an earlier message', { ...ok, messageId: 'm0' }, /earlier/],
      ['only whitespace', chatBody(chatId, 'm1', '  \n'), /whitespace/],
      ['no text part', { ...ok, messages: [{ id: 'm1', role: 'user', parts: [{ type: 'file', url: 'x' }] }] }, /empty/],
      [
        'a text part without text',
        { ...ok, messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text' }] }] },
        /text/,
      ],
      ['a message id of 129 characters', chatBody(chatId, 'm'.repeat(129), 'hi'), /id/],
      ['maxHops out of range', { ...ok, maxHops: 51 }, /maxHops/],
      ['1001 messages', { ...ok, messages: Array.from({ length: 1001 }, () => ok.messages[0]) }, /messages/],
    ];
    for (const [name, body, message] of cases) {
      const response = await post(body);
      assert.equal(response.status, 400, name);
      const { error } = (await response.json()) as { error: { message: string } };
      assert.match(error.message, message, name);
    }
    // 10,000 levels overflow any recursive walk (strict checks, zod, the AI SDK): refused before one.
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const text = JSON.stringify(ok);
    for (const [name, raw] of [
      ['deep message metadata', text.replace('"role":"user"', `"role":"user","metadata":${deep}`)],
      ['deep provider metadata', text.replace('"type":"text"', `"type":"text","providerMetadata":{"p":${deep}}`)],
      ['a deep unknown key', text.replace(/}$/, `,"extra":${deep}}`)],
    ] as const) {
      assert.notEqual(raw, text, name);
      const response = await g.request('/v1/chat', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: raw,
      });
      assert.equal(response.status, 400, name);
      const { error } = (await response.json()) as { error: { message: string } };
      assert.match(error.message, /nests arrays and objects more than 64 levels deep/, name);
    }
    const badMessages = await g.request(`/v1/chat/${chatId}/messages?limit=0`);
    assert.equal(badMessages.status, 400);
    const unauthenticated = await g.request('/v1/chat', { method: 'POST', token: null });
    assert.equal(unauthenticated.status, 401);
    const { rows } = await g.pool.query(`SELECT 1 FROM turns WHERE conversation_id = $1`, [chatId]);
    assert.equal(rows.length, 0, 'nothing was started');
  });
});

describe('chat endpoints: an idle stream', function () {
  this.timeout(120_000);

  it('carries transient keep-alive parts that validate and never enter the message', async () => {
    const g = await gatewayHarness({ keepAliveMs: 150 });
    try {
      g.h.llm.enqueue({ steps: [{ text: 'Wait' }, { waitFor: 'idle' }, { text: ' for it.' }] });
      const chatId = uniqueId('chat');
      const stream = await g.h.withWorker(async () => {
        const response = await g.request('/v1/chat', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(chatBody(chatId, 'm1', 'idle')),
        });
        let released = false;
        return readUiStream(response, {
          until: (chunk, all) => {
            const keepAlives = all.filter((c) => c.type === 'data-turnflow-keep-alive').length;
            if (keepAlives >= 2 && !released) {
              released = true;
              g.h.llm.release('idle');
            }
            return chunk.type === 'finish';
          },
        });
      });
      const keepAlive = stream.chunks.find((c) => c.type === 'data-turnflow-keep-alive');
      assert.deepEqual(keepAlive, { type: 'data-turnflow-keep-alive', data: null, transient: true });
      const { message } = await fold(stream.chunks);
      assert.deepEqual(
        message.parts.map((p) => p.type),
        ['step-start', 'text'],
      );
      assert.equal(textOf(message), 'Wait for it.');
    } finally {
      await g.close();
    }
  });
});
