import assert from 'node:assert/strict';
import { BudgetExhaustedError, DailyTokenBudgets, secondsUntilUtcMidnight, startTurn } from '../../client';
import { uniqueId } from '../support';
import { finalMessage } from '../turn/harness';
import { gatewayHarness, readEvents, TOKENS, type GatewayHarness } from '../gateway/harness';

/**
 * A chunk with text and the usage so far, as providers with continuous usage stats (vLLM) send on every chunk; the
 * scripted model writes it as it is.
 */
function textWithUsage(text: string, promptTokens: number, completionTokens: number): { raw: string } {
  const chunk = {
    id: 'chatcmpl-continuous',
    object: 'chat.completion.chunk',
    created: 0,
    model: 'scripted-model',
    choices: [{ index: 0, delta: { content: text }, finish_reason: null }],
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens },
  };
  return { raw: `data: ${JSON.stringify(chunk)}\n\n` };
}

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
      // The day starts with nothing spent: other test files of this mocha process spend acme's tokens in this database.
      await g.pool.query(`DELETE FROM llm_usage WHERE tenant_id = 'acme'`);
    });
    afterEach(async () => {
      await g.close();
    });

    it('ends a turn whose tokens reach its own budget between hops: budget_exhausted, no tool announced or run', async () => {
      g.h.llm.enqueue({
        steps: [
          { text: 'Let me compute. ' },
          { toolCalls: [{ id: 'c1', name: 'calculate', arguments: '{"expression":"6*7"}' }] },
        ],
        usage: { prompt_tokens: 15, completion_tokens: 10 },
      });
      const events = await g.h.withWorker(async () =>
        readEvents(await g.postTurn({ message: 'compute', budget: { maxTokens: 25 } }, { token: TOKENS.globex })),
      );
      const types = events.map((e) => e.turnEvent?.type);
      assert.ok(!types.includes('tool_calls') && !types.includes('tool_result'), types.join(','));
      const done = events.at(-1)?.turnEvent;
      assert.ok(done?.type === 'done');
      assert.equal(done.finishReason, 'budget_exhausted');
      assert.equal(done.status, 'completed');
      assert.equal(done.usage?.totalTokens, 25);
      assert.equal(g.h.llm.requests.length, 1, 'no further hop');
      const [final] = await finalMessage(g.h.env, done.turnId);
      assert.equal(final?.content, 'Let me compute. ', 'the partial answer is kept');
    });

    it('ends the stream once usage reported mid-stream reaches the turn’s budget, and not before', async () => {
      g.h.llm.enqueue({
        steps: [
          { text: 'Counting. ' },
          textWithUsage('Still under. ', 20, 4), // 24 < 25: goes on
          textWithUsage('Reached.', 20, 5), // 25: ends here
          { waitFor: 'never-released' }, // a stream read past this point would hang the test
          { text: ' Never shown.' },
        ],
        usage: { prompt_tokens: 20, completion_tokens: 9 },
      });
      const events = await g.h.withWorker(async () =>
        readEvents(await g.postTurn({ message: 'count', budget: { maxTokens: 25 } }, { token: TOKENS.globex })),
      );
      const done = events.at(-1)?.turnEvent;
      assert.ok(done?.type === 'done', JSON.stringify(done));
      assert.equal(done.finishReason, 'budget_exhausted');
      assert.equal(done.usage?.totalTokens, 25, 'the usage reported when the stream was ended');
      assert.equal(done.usage?.llmAttempts, 1);
      assert.equal(g.h.llm.requests.length, 1);
      const [final] = await finalMessage(g.h.env, done.turnId);
      assert.equal(final?.content, 'Counting. Still under. Reached.');
      const { rows } = await g.pool.query<{ outcome: string; input_tokens: number; output_tokens: number }>(
        `SELECT outcome, input_tokens::int, output_tokens::int FROM llm_usage WHERE turn_id = $1`,
        [done.turnId],
      );
      assert.deepEqual(rows, [{ outcome: 'ok', input_tokens: 20, output_tokens: 5 }]);
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

    it('refuses every start path over the daily budget: /v1/chat, TurnClient.start and startTurn', async () => {
      g.h.llm.enqueue({ steps: [{ text: 'Costly.' }], usage: { prompt_tokens: 30, completion_tokens: 10 } });
      const chatId = uniqueId('chat');
      const chat = (messageId: string) =>
        g.request('/v1/chat', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            id: chatId,
            messages: [{ id: messageId, role: 'user', parts: [{ type: 'text', text: 'spend' }] }],
            trigger: 'submit-message',
          }),
        });
      await g.h.withWorker(async () => {
        const first = await chat('m1');
        assert.equal(first.status, 200);
        await first.text();
        // The turn's usage row is written before its answer ends: the day's 40 tokens are spent.
        const refused = await chat('m2');
        assert.equal(refused.status, 429);
        assert.equal(((await refused.json()) as { error: { type: string } }).error.type, 'budget.exhausted');
        const retryAfter = Number(refused.headers.get('retry-after'));
        assert.ok(Math.abs(retryAfter - secondsUntilUtcMidnight(new Date())) <= 5, `Retry-After ${retryAfter}`);
        // The message that spent it still attaches to its own turn.
        const again = await chat('m1');
        assert.equal(again.status, 200);
        await again.text();
      });

      const request = { tenantId: 'acme', conversationId: uniqueId('conv'), requestId: uniqueId('req'), message: 'hi' };
      await assert.rejects(g.turns.start(request), (err: unknown) => {
        assert.ok(err instanceof BudgetExhaustedError);
        assert.equal(err.tenantId, 'acme');
        assert.equal(err.dailyTokens, 40);
        assert.ok(err.retryAfterSeconds >= 1 && err.retryAfterSeconds <= 86_400);
        return true;
      });
      await assert.rejects(
        startTurn({ temporal: g.h.client, pool: g.pool, dailyTokens: DailyTokenBudgets.parse('acme:40') }, request, {
          taskQueue: g.h.taskQueue,
        }),
        BudgetExhaustedError,
      );
      const { rows } = await g.pool.query(
        `SELECT 1 FROM turns WHERE conversation_id IN ($1, $2) AND request_id <> 'm1'`,
        [chatId, request.conversationId],
      );
      assert.equal(rows.length, 0, 'nothing refused was stored');
    });
  });
});
