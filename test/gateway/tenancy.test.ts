import assert from 'node:assert/strict';
import { turnIdFor } from '../../common';
import { uniqueId } from '../support';
import { gatewayHarness, readEvents, TOKENS, type GatewayHarness, type SseEvent } from './harness';

/** The model answers every request with the last user message it was sent, so each answer names its asker. */
function echoLastUserMessage(g: GatewayHarness): void {
  g.h.llm.respond((request) => {
    const users = request.body.messages.filter((m) => m.role === 'user');
    const last = users[users.length - 1];
    return [{ text: `echo: ${typeof last?.content === 'string' ? last.content : ''}` }];
  });
}

function answerOf(events: SseEvent[]): string {
  return events
    .filter((e) => e.event === 'text')
    .map((e) => String(e.data['text']))
    .join('');
}

interface MessagesBody {
  conversationId: string;
  messages: { role: string; content: string; turnId: string }[];
}

describe('gateway: tenants', function () {
  this.timeout(300_000);
  let g: GatewayHarness;

  beforeEach(async () => {
    g = await gatewayHarness({ poolMax: 30 });
  });
  afterEach(async () => {
    await g.close();
  });

  it("two tenants racing on the same conversation and request ids 50 times never see each other's data", async () => {
    echoLastUserMessage(g);
    /** One race: both tenants start the same conversation and request ids at once, then read what they own. */
    const race = async (round: number) => {
      const conversationId = uniqueId('race');
      const requestId = uniqueId('req');
      const post = (tenant: 'acme' | 'globex') =>
        g.postTurn({ requestId, message: `from ${tenant} ${round}` }, { conversationId, token: TOKENS[tenant] });
      // Both requests are on the wire together: neither waits for the other's workflow to exist.
      const [acme, globex] = await Promise.all([post('acme'), post('globex')]);
      for (const [tenant, response] of [
        ['acme', acme],
        ['globex', globex],
      ] as const) {
        assert.equal(response.status, 200, `${tenant} round ${round}`);
        assert.equal(response.headers.get('turn-attached'), 'false', `${tenant} round ${round}: a first start`);
      }
      const [acmeEvents, globexEvents] = await Promise.all([readEvents(acme), readEvents(globex)]);
      assert.equal(answerOf(acmeEvents), `echo: from acme ${round}`, `round ${round}`);
      assert.equal(answerOf(globexEvents), `echo: from globex ${round}`, `round ${round}`);
      assert.equal(acmeEvents.at(-1)?.event, 'done');
      assert.equal(globexEvents.at(-1)?.event, 'done');
      assert.equal(decodeURIComponent(acme.headers.get('turn-id') ?? ''), turnIdFor('acme', conversationId, requestId));
      assert.equal(
        decodeURIComponent(globex.headers.get('turn-id') ?? ''),
        turnIdFor('globex', conversationId, requestId),
      );

      for (const tenant of ['acme', 'globex'] as const) {
        const response = await g.request(`/v1/conversations/${conversationId}/messages`, { token: TOKENS[tenant] });
        assert.equal(response.status, 200);
        const body = (await response.json()) as MessagesBody;
        assert.deepEqual(
          body.messages.map((m) => [m.role, m.content, m.turnId]),
          [
            ['user', `from ${tenant} ${round}`, turnIdFor(tenant, conversationId, requestId)],
            ['assistant', `echo: from ${tenant} ${round}`, turnIdFor(tenant, conversationId, requestId)],
          ],
        );
      }
    };
    await g.h.withWorker(async () => {
      // Five races at a time (each tenant stays within its running-turn limit), fifty in all.
      for (let round = 0; round < 50; round += 5) {
        await Promise.all(Array.from({ length: 5 }, (_, k) => race(round + k)));
      }
    });
    assert.equal(g.h.llm.requests.length, 100);
  });

  it("a tenant cannot tell another tenant's conversation or turn from a missing one", async () => {
    echoLastUserMessage(g);
    const conversationId = uniqueId('conv');
    const requestId = uniqueId('req');
    await g.h.withWorker(async () =>
      readEvents(await g.postTurn({ requestId, message: 'secret' }, { conversationId })),
    );
    const asGlobex = { token: TOKENS.globex };
    const acmeTurn = turnIdFor('acme', conversationId, requestId);
    const missingTurn = turnIdFor('acme', conversationId, 'no-such-request');
    const missingConversation = uniqueId('conv');
    // [what, path with another tenant's resource, path with a missing one, the ids they name]
    const probes: [string, string, string, string, string, RequestInit][] = [
      [
        'messages',
        `/v1/conversations/${conversationId}/messages`,
        `/v1/conversations/${missingConversation}/messages`,
        conversationId,
        missingConversation,
        {},
      ],
      [
        'events',
        `/v1/turns/${encodeURIComponent(acmeTurn)}/events`,
        `/v1/turns/${encodeURIComponent(missingTurn)}/events`,
        acmeTurn,
        missingTurn,
        {},
      ],
      [
        'cancel',
        `/v1/turns/${encodeURIComponent(acmeTurn)}/cancel`,
        `/v1/turns/${encodeURIComponent(missingTurn)}/cancel`,
        acmeTurn,
        missingTurn,
        { method: 'POST' },
      ],
    ];
    for (const [what, foreignPath, missingPath, foreignId, missingId, init] of probes) {
      const foreign = await g.request(foreignPath, { ...init, ...asGlobex });
      const absent = await g.request(missingPath, { ...init, ...asGlobex });
      assert.equal(foreign.status, 404, what);
      assert.equal(absent.status, 404, what);
      const a = ((await foreign.json()) as { error: { type: string; message: string } }).error;
      const b = ((await absent.json()) as { error: { type: string; message: string } }).error;
      // The same type and the same wording, apart from the id the caller itself sent.
      assert.equal(a.type, b.type, what);
      assert.equal(a.message.replace(foreignId, 'ID'), b.message.replace(missingId, 'ID'), what);
    }
    // Starting a turn under acme's conversation id, even with acme's request id, is globex's own first turn.
    const started = await g.h.withWorker(async () => {
      const response = await g.postTurn({ requestId, message: 'mine' }, { conversationId, ...asGlobex });
      return { response, events: await readEvents(response) };
    });
    assert.equal(started.response.status, 200);
    assert.equal(started.response.headers.get('turn-attached'), 'false');
    assert.equal(answerOf(started.events), 'echo: mine');
  });

  it('serves the events of a just-started turn to its owner at once, before the model said anything', async () => {
    // A start is accepted by the turn's conversation (a worker must be polling); the model then holds its first
    // chunk, so nothing but the start itself has happened when the events are asked for.
    g.h.llm.respond(() => ({ steps: [{ text: 'late answer' }], firstChunkDelayMs: 3_000 }));
    const requestId = uniqueId('req');
    const turnId = turnIdFor('acme', g.h.conversationId, requestId);
    const events = await g.h.withWorker(async () => {
      const response = await g.postTurn({ requestId, message: 'hello' });
      assert.equal(response.status, 200);
      const controller = new AbortController();
      const resumed = await g.request(`/v1/turns/${encodeURIComponent(turnId)}/events`, { signal: controller.signal });
      assert.equal(resumed.status, 200);
      assert.equal((await g.request(`/v1/conversations/${g.h.conversationId}/messages`)).status, 200);
      const notOurs = await g.request(`/v1/turns/${encodeURIComponent(turnId)}/events`, { token: TOKENS.globex });
      assert.equal(notOurs.status, 404);
      controller.abort();
      await resumed.body?.cancel().catch(() => undefined);
      return readEvents(response);
    });
    assert.equal(g.h.llm.requests.length, 1);
    assert.equal(answerOf(events), 'late answer');
  });

  it('tags every turn with a TenantId search attribute', async () => {
    echoLastUserMessage(g);
    const requestId = uniqueId('req');
    await g.h.withWorker(async () => readEvents(await g.postTurn({ requestId }, { token: TOKENS.globex })));
    const description = await g.h.client.workflow
      .getHandle(turnIdFor('globex', g.h.conversationId, requestId))
      .describe();
    assert.deepEqual(description.searchAttributes['TenantId'], ['globex']);
  });
});
