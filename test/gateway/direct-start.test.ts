import assert from 'node:assert/strict';
import { turnIdFor } from '../../common';
import { gatewayHarness, readEvents, type GatewayHarness } from './harness';

describe('gateway: direct start of an idle conversation’s turn (TURNFLOW_DIRECT_START)', function () {
  this.timeout(120_000);
  let g: GatewayHarness;

  beforeEach(async () => {
    g = await gatewayHarness({ directStart: true });
  });
  afterEach(async () => {
    await g.close();
  });

  it('starts the first turn directly, queues the next behind it, and stops the direct turn on cancel', async () => {
    g.h.llm.respond((request) => {
      const last = request.body.messages.at(-1) as { content?: unknown };
      return last.content === 'first' ? { steps: [{ text: 'one' }, { waitFor: 'never' }] } : [{ text: 'two' }];
    });
    await g.h.withWorker(async () => {
      const firstId = turnIdFor('acme', g.h.conversationId, 'r1');
      const first = await g.postTurn({ requestId: 'r1', message: 'first' });
      assert.equal(first.status, 200);
      assert.equal(first.headers.get('turn-state'), 'running');
      const { rows } = await g.pool.query<{ direct: boolean }>(
        `SELECT direct_input IS NOT NULL AS direct FROM turns WHERE id = $1`,
        [firstId],
      );
      assert.deepEqual(rows, [{ direct: true }]);
      await g.h.llm.gateReached('never');
      // Alone, the direct turn is not in any conversation workflow: the listing finds it in Postgres.
      const alone = (await (await g.request(`/v1/conversations/${g.h.conversationId}/turns`)).json()) as {
        running: { turnId: string; requestId: string; policy: string } | null;
        queued: unknown[];
      };
      assert.deepEqual(
        [alone.running?.turnId, alone.running?.requestId, alone.running?.policy, alone.queued],
        [firstId, 'r1', 'enqueue', []],
      );

      const second = await g.postTurn({ requestId: 'r2', message: 'second', doubleTexting: 'enqueue' });
      assert.equal(second.status, 200);
      assert.equal(second.headers.get('turn-state'), 'queued');
      const listed = (await (await g.request(`/v1/conversations/${g.h.conversationId}/turns`)).json()) as {
        running: { turnId: string } | null;
      };
      assert.equal(listed.running?.turnId, firstId, 'the conversation adopted the direct turn');

      const cancelled = await g.request(`/v1/turns/${encodeURIComponent(firstId)}/cancel`, { method: 'POST' });
      assert.equal(cancelled.status, 202);
      const firstEvents = await readEvents(first, { until: (e) => e.event === 'done' || e.event === 'error' });
      assert.equal(firstEvents.at(-1)?.event, 'done');
      assert.equal(firstEvents.at(-1)?.data['finishReason'], 'cancelled');
      const secondEvents = await readEvents(second, { until: (e) => e.event === 'done' || e.event === 'error' });
      assert.deepEqual(
        secondEvents.map((e) => e.event).filter((e) => e !== 'text'),
        ['queued', 'done'],
      );
      const text = secondEvents.flatMap((e) => (e.turnEvent?.type === 'text' ? [e.turnEvent.text] : [])).join('');
      assert.equal(text, 'two');
      const context = g.h.llm.requests.at(-1)!.body.messages.map((m) => (m as { content?: unknown }).content);
      assert.deepEqual(context.slice(-3), ['first', 'one', 'second']);
    });
  });
});
