import assert from 'node:assert/strict';
import { turnIdFor } from '../../common';
import { gatewayHarness, readEvents, type GatewayHarness } from './harness';

describe('gateway: direct start of an idle conversation’s turn (the default; TURNFLOW_DIRECT_START)', function () {
  this.timeout(120_000);
  let g: GatewayHarness;

  beforeEach(async () => {
    // No `directStart`: the gateway's default.
    g = await gatewayHarness();
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
      const { rows } = await g.pool.query<{ direct: boolean; status: string }>(
        `SELECT direct_input IS NOT NULL AS direct, status FROM turns WHERE id = $1`,
        [firstId],
      );
      // The start answered once a worker had taken the turn: its row had left the queue.
      assert.deepEqual(rows, [{ direct: true, status: 'running' }]);
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

  it('TURNFLOW_DIRECT_START=false: the first turn goes through the conversation’s workflow', async () => {
    await g.close();
    g = await gatewayHarness({ directStart: false });
    g.h.llm.enqueue({ steps: [{ text: 'ordered' }] });
    await g.h.withWorker(async () => {
      const turnId = turnIdFor('acme', g.h.conversationId, 'r1');
      const response = await g.postTurn({ requestId: 'r1', message: 'first' });
      assert.equal(response.status, 200);
      const events = await readEvents(response, { until: (e) => e.event === 'done' || e.event === 'error' });
      assert.equal(events.at(-1)?.event, 'done');
      const { rows } = await g.pool.query<{ direct: boolean }>(
        `SELECT direct_input IS NOT NULL AS direct FROM turns WHERE id = $1`,
        [turnId],
      );
      assert.deepEqual(rows, [{ direct: false }], 'no start input stored: not started directly');
      const conversation = await g.h.client.workflow.getHandle(`conversation/acme/${g.h.conversationId}`).describe();
      assert.equal(conversation.type, 'conversation', 'the conversation’s workflow ran the turn');
    });
  });
});
