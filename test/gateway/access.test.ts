import assert from 'node:assert/strict';
import { WorkflowNotFoundError } from '@temporalio/common';
import { turnIdFor } from '../../common';
import { uniqueId } from '../support';
import { gatewayHarness, readEvents, tableCounts, TOKENS, type GatewayHarness } from './harness';

interface ErrorBody {
  error: { type: string; message: string };
}

async function errorOf(response: Response): Promise<ErrorBody['error']> {
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  const body = (await response.json()) as ErrorBody;
  assert.equal(typeof body.error.type, 'string');
  assert.equal(typeof body.error.message, 'string');
  return body.error;
}

describe('gateway: access control and bad input', function () {
  this.timeout(120_000);
  let g: GatewayHarness;

  beforeEach(async () => {
    g = await gatewayHarness();
  });
  afterEach(async () => {
    await g.close();
  });

  it("answers another tenant's turns, events, cancel and messages with the 404 of a missing one", async () => {
    g.h.llm.enqueue({ steps: [{ text: 'for acme only' }] });
    const requestId = uniqueId('req');
    const turnId = turnIdFor('acme', g.h.conversationId, requestId);
    await g.h.withWorker(async () => readEvents(await g.postTurn({ requestId })));
    const enc = encodeURIComponent(turnId);
    const missing = encodeURIComponent(turnIdFor('acme', g.h.conversationId, 'no-such-request'));
    const asGlobex = { token: TOKENS.globex };

    const cases: [string, Response, Response][] = [
      [
        'events',
        await g.request(`/v1/turns/${enc}/events`, asGlobex),
        await g.request(`/v1/turns/${missing}/events`, asGlobex),
      ],
      [
        'cancel',
        await g.request(`/v1/turns/${enc}/cancel`, { method: 'POST', ...asGlobex }),
        await g.request(`/v1/turns/${missing}/cancel`, { method: 'POST', ...asGlobex }),
      ],
      [
        'messages',
        await g.request(`/v1/conversations/${g.h.conversationId}/messages`, asGlobex),
        await g.request(`/v1/conversations/conv-that-does-not-exist/messages`, asGlobex),
      ],
    ];
    for (const [what, foreign, absent] of cases) {
      assert.equal(foreign.status, 404, what);
      assert.equal(absent.status, 404, what);
      const [a, b] = [await errorOf(foreign), await errorOf(absent)];
      assert.equal(a.type, 'not_found', what);
      assert.equal(b.type, 'not_found', what);
    }

    // Writing to the same conversation id as globex starts globex's own conversation: acme's is untouched.
    const intruder = uniqueId('req');
    g.h.llm.enqueue({ steps: [{ text: 'for globex only' }] });
    const post = await g.h.withWorker(async () => {
      const response = await g.postTurn({ requestId: intruder, message: 'let me in' }, asGlobex);
      return { response, events: await readEvents(response) };
    });
    assert.equal(post.response.status, 200);
    assert.equal(post.response.headers.get('turn-attached'), 'false');
    assert.equal(
      decodeURIComponent(post.response.headers.get('turn-id') ?? ''),
      turnIdFor('globex', g.h.conversationId, intruder),
    );
    const acmeMessages = (await (await g.request(`/v1/conversations/${g.h.conversationId}/messages`)).json()) as {
      messages: { content: string }[];
    };
    assert.deepEqual(
      acmeMessages.messages.map((m) => m.content),
      ['hello', 'for acme only'],
    );
    await assert.rejects(
      g.h.client.workflow.getHandle(turnIdFor('acme', g.h.conversationId, intruder)).describe(),
      WorkflowNotFoundError,
    );
    assert.equal(g.h.llm.requests.length, 2);

    // acme itself still sees everything.
    assert.equal((await g.request(`/v1/conversations/${g.h.conversationId}/messages`)).status, 200);
  });

  it('rejects each bad request with a clear status and writes or starts nothing', async () => {
    const conv = `/v1/conversations/${g.h.conversationId}/turns`;
    const json = { 'content-type': 'application/json' };
    const requestIds: string[] = [];
    const body = (extra: Record<string, unknown> = {}) => {
      const requestId = uniqueId('req');
      requestIds.push(requestId);
      return JSON.stringify({ requestId, message: 'hi', ...extra });
    };
    const before = await tableCounts(g.pool);

    const cases: { name: string; status: number; type: string; message?: RegExp; send: () => Promise<Response> }[] = [
      {
        name: 'invalid JSON',
        status: 400,
        type: 'invalid_json',
        send: () => g.request(conv, { method: 'POST', headers: json, body: '{"requestId": "r1", "message": ' }),
      },
      {
        name: 'missing message',
        status: 400,
        type: 'bad_request',
        message: /message/,
        send: () =>
          g.request(conv, { method: 'POST', headers: json, body: JSON.stringify({ requestId: uniqueId('req') }) }),
      },
      {
        name: 'wrong types',
        status: 400,
        type: 'bad_request',
        message: /maxHops/,
        send: () => g.request(conv, { method: 'POST', headers: json, body: body({ maxHops: 'many' }) }),
      },
      {
        name: 'unknown key (tenant from the body)',
        status: 400,
        type: 'bad_request',
        message: /tenantId/,
        send: () => g.request(conv, { method: 'POST', headers: json, body: body({ tenantId: 'globex' }) }),
      },
      {
        name: 'unknown nested key',
        status: 400,
        type: 'bad_request',
        message: /flush/,
        send: () => g.request(conv, { method: 'POST', headers: json, body: body({ persistence: { flush: true } }) }),
      },
      {
        name: 'invalid conversation id',
        status: 400,
        type: 'bad_request',
        message: /conversation id/,
        send: () => g.request('/v1/conversations/bad%20id!/turns', { method: 'POST', headers: json, body: body() }),
      },
      {
        name: 'body over the limit',
        status: 413,
        type: 'payload_too_large',
        send: () => g.request(conv, { method: 'POST', headers: json, body: body({ message: 'x'.repeat(70_000) }) }),
      },
      {
        name: 'not JSON',
        status: 415,
        type: 'unsupported_media_type',
        send: () => g.request(conv, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: body() }),
      },
      {
        name: 'missing token',
        status: 401,
        type: 'unauthorized',
        send: () => g.request(conv, { method: 'POST', headers: json, body: body(), token: null }),
      },
      {
        name: 'unknown token',
        status: 401,
        type: 'unauthorized',
        send: () => g.request(conv, { method: 'POST', headers: json, body: body(), token: 'not-a-token' }),
      },
      {
        name: 'unknown route',
        status: 404,
        type: 'not_found',
        send: () => g.request('/v1/conversations', { method: 'POST', headers: json, body: body() }),
      },
      {
        name: 'bad Last-Event-ID',
        status: 400,
        type: 'bad_request',
        message: /Last-Event-ID/,
        send: () =>
          g.request(`/v1/turns/${encodeURIComponent(turnIdFor('acme', g.h.conversationId, 'r'))}/events`, {
            headers: { 'last-event-id': 'yesterday' },
          }),
      },
      {
        name: 'bad messages query',
        status: 400,
        type: 'bad_request',
        message: /limit/,
        send: () => g.request(`/v1/conversations/${g.h.conversationId}/messages?limit=0`),
      },
    ];

    await g.h.withWorker(async () => {
      for (const c of cases) {
        const response = await c.send();
        assert.equal(response.status, c.status, c.name);
        const error = await errorOf(response);
        assert.equal(error.type, c.type, c.name);
        if (c.message) assert.match(error.message, c.message, c.name);
        if (c.status === 401) assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer/, c.name);
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
    });

    assert.deepEqual(await tableCounts(g.pool), before);
    assert.equal(g.h.llm.requests.length, 0);
    for (const requestId of requestIds) {
      await assert.rejects(
        g.h.client.workflow.getHandle(turnIdFor('acme', g.h.conversationId, requestId)).describe(),
        WorkflowNotFoundError,
      );
    }
  });

  it('reports health without a token, and 404s unknown routes as JSON', async () => {
    const health = await g.request('/healthz', { token: null });
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { ok: true, checks: { postgres: 'ok', temporal: 'ok' } });
    const unknown = await g.request('/nowhere', { token: null });
    assert.equal(unknown.status, 404);
    assert.equal((await errorOf(unknown)).type, 'not_found');
  });
});
