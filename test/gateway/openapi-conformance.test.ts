import assert from 'node:assert/strict';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import { createOpenApiDocument } from '../../gateway/openapi';
import { uniqueId } from '../support';
import { gatewayHarness, sseFrames, type GatewayHarness } from './harness';

type Content = Record<string, { schema?: object }>;
type ResponseObject = { content?: Content; headers?: Record<string, unknown>; $ref?: string };
type Doc = {
  paths: Record<string, Record<string, { responses: Record<string, ResponseObject> }>>;
  components: { responses: Record<string, ResponseObject> };
};

/**
 * Real answers of a real gateway (Temporal, Postgres, a worker, the scripted model) checked against the document:
 * every status answered is one the operation documents, every documented header is sent, every JSON body and every
 * event-stream frame validates against the schema the document gives for it.
 */
describe('OpenAPI document: the answers of a running gateway conform to it', function () {
  this.timeout(180_000);
  let g: GatewayHarness;
  const doc = createOpenApiDocument() as unknown as Doc;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const validators = new Map<object, ValidateFunction>();
  const validatorOf = (schema: object) => {
    let v = validators.get(schema);
    if (!v) {
      v = ajv.compile({ ...schema, components: doc.components });
      validators.set(schema, v);
    }
    return v;
  };
  let checked = 0;

  /** Checks `res` against `method path` (OpenAPI template) and returns the JSON body or the stream frames' data. */
  async function conforms(method: string, template: string, res: Response): Promise<unknown> {
    const where = `${method.toUpperCase()} ${template} ${res.status}`;
    const op = doc.paths[template]?.[method];
    assert.ok(op, `${method} ${template} is in the document`);
    let response = op.responses[String(res.status)];
    assert.ok(response, `${where}: the status is documented`);
    if (response.$ref) response = doc.components.responses[response.$ref.split('/').at(-1)!]!;
    for (const name of Object.keys(response.headers ?? {})) {
      assert.ok(res.headers.has(name), `${where}: header ${name}`);
    }
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!;
    if (!response.content) {
      assert.equal(await res.text(), '', `${where}: no body`);
      return undefined;
    }
    const media = response.content[type];
    assert.ok(media?.schema, `${where}: ${type} is documented`);
    const validate = validatorOf(media.schema);
    checked += 1;
    if (type === 'text/event-stream') {
      const data: unknown[] = [];
      for await (const frame of sseFrames(res)) {
        if (frame.kind !== 'event' || frame.data === '[DONE]') continue;
        const value: unknown = JSON.parse(frame.data);
        assert.ok(validate(value), `${where}: ${frame.data.slice(0, 200)} ${ajv.errorsText(validate.errors)}`);
        data.push(value);
      }
      return data;
    }
    const body: unknown = await res.json();
    assert.ok(validate(body), `${where}: ${JSON.stringify(body).slice(0, 300)} ${ajv.errorsText(validate.errors)}`);
    return body;
  }

  before(async () => {
    g = await gatewayHarness();
  });
  after(async () => {
    await g?.close();
  });

  it('turns, their events, conversations, cancel, approvals, usage and the chat endpoints', async () => {
    const conversation = g.h.conversationId;
    const requestId = uniqueId('req');
    const json = { 'content-type': 'application/json' };
    g.h.llm.enqueue(
      {
        steps: [
          { text: 'Computing. ' },
          { toolCalls: [{ id: 'c1', name: 'calculate', arguments: { expression: '6*7' } }] },
        ],
      },
      { steps: [{ text: 'It is 42.' }] },
      { steps: [{ text: 'Hello from the chat.' }] },
    );
    const chatId = uniqueId('chat');
    // Everything runs with the worker up: listing a conversation's turns and cancelling ask its workflow.
    await g.h.withWorker(async () => {
      const started = await g.postTurn({ requestId, message: '6*7?' });
      const events = (await conforms('post', '/v1/conversations/{id}/turns', started)) as { type: string }[];
      assert.deepEqual(
        [...new Set(events.map((e) => e.type))].sort(),
        ['done', 'text', 'tool_calls', 'tool_result'],
        'the stream had every kind of event a tool round makes',
      );
      const chat = await g.request('/v1/chat', {
        method: 'POST',
        headers: json,
        body: JSON.stringify({
          id: chatId,
          messages: [{ id: uniqueId('m'), role: 'user', parts: [{ type: 'text', text: 'hi' }] }],
          trigger: 'submit-message',
        }),
      });
      const chunks = (await conforms('post', '/v1/chat', chat)) as { type: string }[];
      assert.ok(chunks.some((c) => c.type === 'text-delta'));
      // The turn has ended: 409.
      const turnId = encodeURIComponent(`turn/acme/${conversation}/${requestId}`);
      await conforms(
        'post',
        '/v1/turns/{turnId}/cancel',
        await g.request(`/v1/turns/${turnId}/cancel`, { method: 'POST' }),
      );
      const replay = (await conforms(
        'get',
        '/v1/turns/{turnId}/events',
        await g.request(`/v1/turns/${turnId}/events`),
      )) as {
        cursor: number;
      }[];
      const last = String(replay.at(-1)!.cursor);
      await conforms(
        'get',
        '/v1/turns/{turnId}/events',
        await g.request(`/v1/turns/${turnId}/events`, { headers: { 'Last-Event-ID': last } }),
      );
      await conforms('get', '/v1/turns/{turnId}/events', await g.request(`/v1/turns/${turnId}/events?after=zz`));
      await conforms('get', '/v1/turns/{turnId}/events', await g.request(`/v1/turns/${turnId}x/events`));
      const messages = (await conforms(
        'get',
        '/v1/conversations/{id}/messages',
        await g.request(`/v1/conversations/${conversation}/messages?limit=10`),
      )) as { messages: unknown[] };
      assert.equal(messages.messages.length, 2);
      await conforms('get', '/v1/conversations/{id}/turns', await g.request(`/v1/conversations/${conversation}/turns`));
      await conforms('get', '/v1/conversations/{id}/turns', await g.request(`/v1/conversations/nobody-here/turns`));
      const from = new Date(Date.now() - 3_600_000).toISOString();
      const to = new Date(Date.now() + 60_000).toISOString();
      const usage = (await conforms(
        'get',
        '/v1/usage',
        await g.request(`/v1/usage?from=${from}&to=${to}&groupBy=model`),
      )) as { llmAttempts: number };
      assert.ok(usage.llmAttempts >= 3);
      await conforms('get', '/v1/usage', await g.request(`/v1/usage?from=${to}&to=${from}`));
      await conforms('get', '/v1/approvals', await g.request('/v1/approvals?limit=5'));
      await conforms(
        'post',
        '/v1/turns/{turnId}/approvals/{approvalId}',
        await g.request(`/v1/turns/${turnId}/approvals/apr_none`, {
          method: 'POST',
          headers: json,
          body: JSON.stringify({ approved: true }),
        }),
      );
      const history = (await conforms(
        'get',
        '/v1/chat/{id}/messages',
        await g.request(`/v1/chat/${chatId}/messages`),
      )) as unknown[];
      assert.equal(history.length, 2);
      await conforms('get', '/v1/chat/{id}/stream', await g.request(`/v1/chat/${chatId}/stream`));
      await conforms('post', '/v1/chat/{id}/stop', await g.request(`/v1/chat/${chatId}/stop`, { method: 'POST' }));
      await conforms('get', '/v1/approvals', await g.request('/v1/approvals', { token: 'nope' }));
      await conforms(
        'post',
        '/v1/conversations/{id}/turns',
        await g.request(`/v1/conversations/${conversation}/turns`, {
          method: 'POST',
          headers: json,
          body: '{"requestId":1}',
        }),
      );
      await conforms(
        'post',
        '/v1/conversations/{id}/turns',
        await g.request(`/v1/conversations/${conversation}/turns`, { method: 'POST', body: 'hi' }),
      );
      await conforms('get', '/v1/openapi.json', await g.request('/v1/openapi.json', { token: null }));
    });
    assert.ok(checked >= 18, `${checked} bodies checked`);
  });
});
