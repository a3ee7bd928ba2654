import assert from 'node:assert/strict';
import { turnIdFor } from '../../common';
import { uniqueId } from '../support';
import { gatewayHarness, readEvents, TOKENS, type GatewayHarness } from './harness';

interface TurnsBody {
  conversationId: string;
  running: { turnId: string; requestId: string; policy: string } | null;
  queued: { turnId: string; requestId: string; policy: string }[];
  steering: unknown[];
}

describe('gateway: conversation order', function () {
  this.timeout(120_000);
  let g: GatewayHarness;

  beforeEach(async () => {
    g = await gatewayHarness();
  });
  afterEach(async () => {
    await g.close();
  });

  it('lists the running and queued turns, streams a queued turn from its queued event, and answers reject with 409', async () => {
    g.h.llm.respond((request) => {
      const last = request.body.messages.at(-1) as { content?: unknown };
      return last.content === 'first' ? { steps: [{ text: 'one' }, { waitFor: 'hold' }] } : [{ text: 'two' }];
    });
    await g.h.withWorker(async () => {
      const first = await g.postTurn({ requestId: 'r1', message: 'first' });
      assert.equal(first.headers.get('turn-state'), 'running');
      await g.h.llm.gateReached('hold');
      const second = await g.postTurn({ requestId: 'r2', message: 'second', doubleTexting: 'enqueue' });
      assert.equal(second.status, 200);
      assert.equal(second.headers.get('turn-state'), 'queued');

      const listed = await g.request(`/v1/conversations/${g.h.conversationId}/turns`);
      assert.equal(listed.status, 200);
      const body = (await listed.json()) as TurnsBody;
      const firstId = turnIdFor('acme', g.h.conversationId, 'r1');
      const secondId = turnIdFor('acme', g.h.conversationId, 'r2');
      assert.equal(body.running?.turnId, firstId);
      assert.deepEqual(
        body.queued.map((t) => [t.turnId, t.requestId, t.policy]),
        [[secondId, 'r2', 'enqueue']],
      );

      const rejected = await g.postTurn({ requestId: 'r3', message: 'third', doubleTexting: 'reject' });
      assert.equal(rejected.status, 409);
      const error = (await rejected.json()) as { error: { type: string; runningTurnId: string } };
      assert.equal(error.error.type, 'conflict');
      assert.equal(error.error.runningTurnId, firstId);

      const unknownPolicy = await g.postTurn({ requestId: 'r4', message: 'x', doubleTexting: 'shout' });
      assert.equal(unknownPolicy.status, 400);

      // Another tenant sees no such conversation, exactly like a missing one.
      const foreign = await g.request(`/v1/conversations/${g.h.conversationId}/turns`, { token: TOKENS.globex });
      const missing = await g.request(`/v1/conversations/${uniqueId('nope')}/turns`, { token: TOKENS.globex });
      assert.equal(foreign.status, 404);
      assert.equal(missing.status, 404);
      assert.deepEqual(
        Object.keys(((await foreign.json()) as { error: object }).error),
        Object.keys(((await missing.json()) as { error: object }).error),
      );

      g.h.llm.release('hold');
      const events = await readEvents(second);
      assert.deepEqual(
        events.map((e) => e.event),
        ['queued', 'text', 'done'],
      );
      assert.equal(events[0]?.data['runningTurnId'], firstId);
      const after = (await (await g.request(`/v1/conversations/${g.h.conversationId}/turns`)).json()) as TurnsBody;
      assert.equal(after.queued.length, 0);
    });
  });
});
