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
    const fresh = () => {
      const requestId = uniqueId('req');
      requestIds.push(requestId);
      return requestId;
    };
    const body = (extra: Record<string, unknown> = {}) =>
      JSON.stringify({ requestId: fresh(), message: 'hi', ...extra });
    /** A body written by hand (escapes, duplicate keys): `REQ` becomes a fresh request id. */
    const raw = (text: string) => text.replace('REQ', () => fresh());
    const post = (payload: string | Uint8Array, headers: Record<string, string> = json) =>
      g.request(conv, { method: 'POST', headers, body: payload });
    const events = (headers: Record<string, string>, query = '') =>
      g.request(`/v1/turns/${encodeURIComponent(turnIdFor('acme', g.h.conversationId, 'r'))}/events${query}`, {
        headers,
      });
    const before = await tableCounts(g.pool);

    interface Case {
      group: 'body' | 'id' | 'header' | 'cursor' | 'method' | 'auth';
      name: string;
      status: number;
      type: string;
      message?: RegExp;
      allow?: string;
      send: () => Promise<Response>;
    }
    const cases: Case[] = [
      // Bodies
      {
        group: 'body',
        name: 'invalid JSON',
        status: 400,
        type: 'invalid_json',
        send: () => post('{"requestId": "r1", "message": '),
      },
      {
        group: 'body',
        name: 'empty body',
        status: 400,
        type: 'invalid_json',
        message: /not valid JSON/,
        send: () => post(''),
      },
      { group: 'body', name: 'JSON array', status: 400, type: 'bad_request', send: () => post('[]') },
      { group: 'body', name: 'JSON null', status: 400, type: 'bad_request', send: () => post('null') },
      {
        group: 'body',
        name: 'missing message',
        status: 400,
        type: 'bad_request',
        message: /message/,
        send: () => post(JSON.stringify({ requestId: fresh() })),
      },
      {
        group: 'body',
        name: 'wrong types',
        status: 400,
        type: 'bad_request',
        message: /maxHops/,
        send: () => post(body({ maxHops: 'many' })),
      },
      {
        group: 'body',
        name: 'message not a string',
        status: 400,
        type: 'bad_request',
        message: /message/,
        send: () => post(body({ message: 42 })),
      },
      {
        group: 'body',
        name: 'tools not an array',
        status: 400,
        type: 'bad_request',
        message: /tools/,
        send: () => post(body({ tools: 'calculate' })),
      },
      {
        group: 'body',
        name: 'unknown key (tenant from the body)',
        status: 400,
        type: 'bad_request',
        message: /tenantId/,
        send: () => post(body({ tenantId: 'globex' })),
      },
      {
        group: 'body',
        name: 'unknown nested key',
        status: 400,
        type: 'bad_request',
        message: /flush/,
        send: () => post(body({ persistence: { flush: true } })),
      },
      {
        group: 'body',
        name: 'logInitialResponse (an operator decision, not a caller option)',
        status: 400,
        type: 'bad_request',
        message: /logInitialResponse/,
        send: () => post(body({ logInitialResponse: true })),
      },
      {
        group: 'body',
        name: 'body over the limit',
        status: 413,
        type: 'payload_too_large',
        send: () => post(body({ message: 'x'.repeat(1_100_000) })),
      },
      {
        group: 'body',
        name: 'message over 100000 characters',
        status: 400,
        type: 'bad_request',
        message: /100000/,
        send: () => post(body({ message: 'x'.repeat(100_001) })),
      },
      {
        group: 'body',
        name: 'duplicate key, last would win',
        status: 400,
        type: 'invalid_json',
        message: /key "message" appears twice in the body/,
        send: () => post(raw('{"requestId":"REQ","message":"hi","message":"other"}')),
      },
      {
        group: 'body',
        name: 'duplicate key spelt with an escape',
        status: 400,
        type: 'invalid_json',
        message: /key "message" appears twice/,
        send: () => post(raw('{"requestId":"REQ","message":"hi","m\\u0065ssage":"other"}')),
      },
      {
        group: 'body',
        name: 'duplicate nested key',
        status: 400,
        type: 'invalid_json',
        message: /key "minChars" appears twice in persistence/,
        send: () => post(raw('{"requestId":"REQ","message":"hi","persistence":{"minChars":1,"minChars":2}}')),
      },
      {
        group: 'body',
        name: 'invalid UTF-8 bytes',
        status: 400,
        type: 'invalid_json',
        message: /not valid UTF-8/,
        send: () =>
          post(
            Buffer.concat([
              Buffer.from(raw('{"requestId":"REQ","message":"a')),
              Buffer.from([0xff, 0xfe]),
              Buffer.from('b"}'),
            ]),
          ),
      },
      {
        group: 'body',
        name: 'overlong UTF-8 encoding',
        status: 400,
        type: 'invalid_json',
        message: /not valid UTF-8/,
        send: () =>
          post(
            Buffer.concat([
              Buffer.from(raw('{"requestId":"REQ","message":"a')),
              Buffer.from([0xc0, 0xaf]),
              Buffer.from('"}'),
            ]),
          ),
      },
      {
        group: 'body',
        name: 'lone high surrogate escape',
        status: 400,
        type: 'bad_request',
        message: /message contains a lone UTF-16 surrogate/,
        send: () => post(raw('{"requestId":"REQ","message":"a\\ud800b"}')),
      },
      {
        group: 'body',
        name: 'lone low surrogate escape',
        status: 400,
        type: 'bad_request',
        message: /message contains a lone UTF-16 surrogate/,
        send: () => post(raw('{"requestId":"REQ","message":"\\udc00"}')),
      },
      {
        group: 'body',
        name: 'NUL in the message',
        status: 400,
        type: 'bad_request',
        message: /message contains U\+0000/,
        send: () => post(raw('{"requestId":"REQ","message":"a\\u0000b"}')),
      },
      {
        group: 'body',
        name: 'whitespace-only message',
        status: 400,
        type: 'bad_request',
        message: /must not be only whitespace[\s\S]*message/,
        send: () => post(body({ message: ' \n\t\u00a0\u3000 ' })),
      },
      // 10,000 levels (about 20-50 KB) overflow any recursive walk: refused before one, naming the limit.
      ...(
        [
          ['under an unknown key', (deep: string) => `{"requestId":"REQ","message":"hi","extra":${deep}}`],
          ['as the message', (deep: string) => `{"requestId":"REQ","message":${deep}}`],
          ['in persistence', (deep: string) => `{"requestId":"REQ","message":"hi","persistence":${deep}}`],
        ] as const
      ).flatMap(([where, wrap]) =>
        (
          [
            ['arrays', '['.repeat(10_000) + ']'.repeat(10_000)],
            ['objects', '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)],
          ] as const
        ).map(([kind, deep]): Case => ({
          group: 'body',
          name: `10,000 nested ${kind} ${where}`,
          status: 400,
          type: 'bad_request',
          message: /the request body nests arrays and objects more than 64 levels deep/,
          send: () => post(raw(wrap(deep))),
        })),
      ),
      {
        group: 'body',
        name: 'empty message',
        status: 400,
        type: 'bad_request',
        message: /message/,
        send: () => post(body({ message: '' })),
      },
      // Ids
      {
        group: 'id',
        name: 'invalid conversation id',
        status: 400,
        type: 'bad_request',
        message: /conversation id/,
        send: () => g.request('/v1/conversations/bad%20id!/turns', { method: 'POST', headers: json, body: body() }),
      },
      {
        group: 'id',
        name: 'conversation id with an encoded slash',
        status: 400,
        type: 'bad_request',
        message: /conversation id/,
        send: () => g.request('/v1/conversations/a%2Fb/turns', { method: 'POST', headers: json, body: body() }),
      },
      {
        group: 'id',
        name: 'conversation id too long',
        status: 400,
        type: 'bad_request',
        message: /at most 128/,
        send: () =>
          g.request(`/v1/conversations/${'c'.repeat(129)}/turns`, { method: 'POST', headers: json, body: body() }),
      },
      {
        group: 'id',
        name: 'request id with bad characters',
        status: 400,
        type: 'bad_request',
        message: /requestId/,
        send: () => post(JSON.stringify({ requestId: 'a/b', message: 'hi' })),
      },
      {
        group: 'id',
        name: 'request id too long',
        status: 400,
        type: 'bad_request',
        message: /requestId/,
        send: () => post(JSON.stringify({ requestId: 'r'.repeat(129), message: 'hi' })),
      },
      {
        group: 'id',
        name: 'turn id with extra encoded slashes',
        status: 404,
        type: 'not_found',
        send: () => g.request(`/v1/turns/${encodeURIComponent(`turn/${g.h.conversationId}/a/b`)}/events`),
      },
      {
        group: 'id',
        name: 'turn id that is not one',
        status: 404,
        type: 'not_found',
        send: () => g.request(`/v1/turns/${'x'.repeat(300)}/cancel`, { method: 'POST' }),
      },
      // Headers
      {
        group: 'header',
        name: 'not JSON (text/plain)',
        status: 415,
        type: 'unsupported_media_type',
        send: () => post(body(), { 'content-type': 'text/plain' }),
      },
      {
        group: 'header',
        name: 'no Content-Type',
        status: 415,
        type: 'unsupported_media_type',
        send: () => post(new TextEncoder().encode(body()), {}),
      },
      {
        group: 'header',
        name: 'JSON in another charset',
        status: 415,
        type: 'unsupported_media_type',
        message: /UTF-8/,
        send: () => post(body(), { 'content-type': 'application/json; charset=iso-8859-1' }),
      },
      // Cursors
      {
        group: 'cursor',
        name: 'Last-Event-ID garbage',
        status: 400,
        type: 'bad_request',
        message: /Last-Event-ID/,
        send: () => events({ 'last-event-id': 'yesterday' }),
      },
      {
        group: 'cursor',
        name: 'Last-Event-ID negative',
        status: 400,
        type: 'bad_request',
        message: /Last-Event-ID/,
        send: () => events({ 'last-event-id': '-1' }),
      },
      {
        group: 'cursor',
        name: 'Last-Event-ID NaN',
        status: 400,
        type: 'bad_request',
        message: /Last-Event-ID/,
        send: () => events({ 'last-event-id': 'NaN' }),
      },
      {
        group: 'cursor',
        name: 'Last-Event-ID fractional',
        status: 400,
        type: 'bad_request',
        message: /Last-Event-ID/,
        send: () => events({ 'last-event-id': '1.5' }),
      },
      {
        group: 'cursor',
        name: 'Last-Event-ID beyond 2^53',
        status: 400,
        type: 'bad_request',
        message: /Last-Event-ID/,
        send: () => events({ 'last-event-id': '99999999999999999999' }),
      },
      {
        group: 'cursor',
        name: '?after= garbage',
        status: 400,
        type: 'bad_request',
        message: /after/,
        send: () => events({}, '?after=abc'),
      },
      {
        group: 'cursor',
        name: '?after= negative',
        status: 400,
        type: 'bad_request',
        message: /after/,
        send: () => events({}, '?after=-5'),
      },
      {
        group: 'cursor',
        name: 'unknown query key',
        status: 400,
        type: 'bad_request',
        message: /cursor/,
        send: () => events({}, '?cursor=5'),
      },
      {
        group: 'cursor',
        name: 'bad messages query',
        status: 400,
        type: 'bad_request',
        message: /limit/,
        send: () => g.request(`/v1/conversations/${g.h.conversationId}/messages?limit=0`),
      },
      // Methods
      {
        group: 'method',
        // GET lists the conversation's turns (issue 11): another method is refused.
        name: 'DELETE on turns',
        status: 405,
        type: 'method_not_allowed',
        allow: 'GET, HEAD, POST',
        send: () => g.request(conv, { method: 'DELETE' }),
      },
      {
        group: 'method',
        name: 'DELETE on events',
        status: 405,
        type: 'method_not_allowed',
        allow: 'GET, HEAD',
        send: () =>
          g.request(`/v1/turns/${encodeURIComponent(turnIdFor('acme', g.h.conversationId, 'r'))}/events`, {
            method: 'DELETE',
          }),
      },
      {
        group: 'method',
        name: 'GET on cancel',
        status: 405,
        type: 'method_not_allowed',
        allow: 'POST',
        send: () => g.request(`/v1/turns/${encodeURIComponent(turnIdFor('acme', g.h.conversationId, 'r'))}/cancel`),
      },
      {
        group: 'method',
        name: 'PUT on messages',
        status: 405,
        type: 'method_not_allowed',
        allow: 'GET, HEAD',
        send: () =>
          g.request(`/v1/conversations/${g.h.conversationId}/messages`, { method: 'PUT', headers: json, body: body() }),
      },
      {
        group: 'method',
        name: 'POST on healthz',
        status: 405,
        type: 'method_not_allowed',
        allow: 'GET, HEAD',
        send: () => g.request('/healthz', { method: 'POST', token: null }),
      },
      {
        group: 'method',
        name: 'unknown route',
        status: 404,
        type: 'not_found',
        send: () => g.request('/v1/no-such-route', { method: 'POST', headers: json, body: body() }),
      },
      // Authentication
      {
        group: 'auth',
        name: 'missing token',
        status: 401,
        type: 'unauthorized',
        send: () => g.request(conv, { method: 'POST', headers: json, body: body(), token: null }),
      },
      {
        group: 'auth',
        name: 'unknown token',
        status: 401,
        type: 'unauthorized',
        send: () => g.request(conv, { method: 'POST', headers: json, body: body(), token: 'not-a-token' }),
      },
      {
        group: 'auth',
        name: 'Basic instead of Bearer',
        status: 401,
        type: 'unauthorized',
        send: () =>
          g.request(conv, {
            method: 'POST',
            headers: { ...json, authorization: 'Basic YWNtZTpwdw==' },
            body: body(),
            token: null,
          }),
      },
      {
        group: 'auth',
        name: 'Bearer without a token',
        status: 401,
        type: 'unauthorized',
        send: () =>
          g.request(conv, {
            method: 'POST',
            headers: { ...json, authorization: 'Bearer ' },
            body: body(),
            token: null,
          }),
      },
      {
        group: 'auth',
        name: 'wrong method without a token',
        status: 401,
        type: 'unauthorized',
        send: () => g.request(conv, { token: null }),
      },
    ];

    const mismatches: string[] = [];
    await g.h.withWorker(async () => {
      for (const c of cases) {
        const label = `${c.group}: ${c.name}`;
        const response = await c.send().catch((err: unknown) => err as Error);
        if (response instanceof Error) {
          mismatches.push(`${label}: ${response.message}`);
          continue;
        }
        if (response.status !== c.status) {
          mismatches.push(`${label}: status ${response.status}, expected ${c.status}`);
          await response.body?.cancel();
          continue;
        }
        const error = await errorOf(response);
        if (error.type !== c.type) mismatches.push(`${label}: type ${error.type}, expected ${c.type}`);
        if (c.message && !c.message.test(error.message)) mismatches.push(`${label}: message "${error.message}"`);
        if (c.status === 401 && !/^Bearer/.test(response.headers.get('www-authenticate') ?? '')) {
          mismatches.push(`${label}: no WWW-Authenticate`);
        }
        if (c.allow !== undefined && response.headers.get('allow') !== c.allow) {
          mismatches.push(`${label}: Allow ${response.headers.get('allow')}, expected ${c.allow}`);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
    });

    assert.deepEqual(mismatches, []);
    assert.deepEqual(await tableCounts(g.pool), before);
    assert.equal(g.h.llm.requests.length, 0);
    for (const requestId of requestIds) {
      await assert.rejects(
        g.h.client.workflow.getHandle(turnIdFor('acme', g.h.conversationId, requestId)).describe(),
        WorkflowNotFoundError,
      );
    }
  });

  it('accepts a message of 100,000 three-byte characters (300 KB of UTF-8), the longest a turn allows', async () => {
    g.h.llm.enqueue({ steps: [{ text: 'read it all' }] });
    const message = '€'.repeat(100_000);
    assert.equal(Buffer.byteLength(message), 300_000);
    const requestId = uniqueId('req');
    const response = await g.h.withWorker(async () => {
      const response = await g.postTurn({ requestId, message });
      if (response.status === 200) await readEvents(response);
      return response;
    });
    assert.equal(response.status, 200);
    const { rows } = await g.pool.query<{ content: string }>(
      `SELECT content FROM messages WHERE turn_id = $1 AND kind = 'user'`,
      [turnIdFor('acme', g.h.conversationId, requestId)],
    );
    assert.equal(rows[0]?.content, message);
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
