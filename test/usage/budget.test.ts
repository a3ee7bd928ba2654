import assert from 'node:assert/strict';
import { DailyTokenBudgets, secondsUntilUtcMidnight } from '../../gateway';
import { gatewayHarness, readEvents, TOKENS, type GatewayHarness } from '../gateway/harness';

describe('tenant daily token budget', function () {
  this.timeout(180_000);

  it('parses a default and per-tenant overrides, and refuses anything else', () => {
    const budgets = DailyTokenBudgets.parse('200000, acme:1000000');
    assert.equal(budgets.default, 200_000);
    assert.deepEqual([...budgets.tenants], [['acme', 1_000_000]]);
    assert.equal(DailyTokenBudgets.parse('acme:5').default, null);
    for (const bad of ['lots', 'acme:', 'acme:-1', 'a b:3'])
      assert.equal(DailyTokenBudgets.safeParse(bad).success, false, bad);
  });

  it('counts seconds to the next UTC midnight', () => {
    assert.equal(secondsUntilUtcMidnight(new Date('2026-12-03T23:59:00Z')), 60);
    assert.equal(secondsUntilUtcMidnight(new Date('2026-12-03T00:00:00Z')), 86_400);
  });

  describe('through the gateway', () => {
    let g: GatewayHarness;
    beforeEach(async () => {
      g = await gatewayHarness({ dailyTokens: 'acme:40' });
    });
    afterEach(async () => {
      await g.close();
    });

    it('answers 429 budget.exhausted with Retry-After until the UTC reset once the day’s tokens reach the budget', async () => {
      g.h.llm.enqueue({ steps: [{ text: 'Costly.' }], usage: { prompt_tokens: 30, completion_tokens: 10 } });
      const requestId = 'spend-it';
      await g.h.withWorker(async () => {
        const first = await g.postTurn({ requestId, message: 'spend' });
        assert.equal(first.status, 200);
        await readEvents(first);

        const refused = await g.postTurn({ message: 'more' });
        assert.equal(refused.status, 429);
        const body = (await refused.json()) as { error: { type: string } };
        assert.equal(body.error.type, 'budget.exhausted');
        const retryAfter = Number(refused.headers.get('retry-after'));
        const expected = secondsUntilUtcMidnight(new Date());
        assert.ok(Math.abs(retryAfter - expected) <= 5, `Retry-After ${retryAfter} ≈ ${expected}`);

        // The request that spent it still attaches to its own turn.
        const again = await g.postTurn({ requestId, message: 'spend' });
        assert.equal(again.status, 200);
        await readEvents(again);
      });
      // Another tenant has no budget configured: nothing refuses it here (its request is only validated).
      const other = await g.request(`/v1/conversations/${g.h.conversationId}/turns`, {
        method: 'POST',
        token: TOKENS.globex,
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(other.status, 400);
    });
  });
});
