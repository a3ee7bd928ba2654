import assert from 'node:assert/strict';
import { AnswerAssembler } from '../../common';
import { finalMessage } from '../turn/harness';
import { gatewayHarness, readEvents, withBoundedWorker, type GatewayHarness } from './harness';

const answerTo = (i: number) =>
  `Answer number ${i}: ` + Array.from({ length: 20 }, (_, k) => `token${k}-of-${i}`).join(' ') + '.';

describe('gateway: concurrency', function () {
  this.timeout(90_000);
  let g: GatewayHarness;

  before(async () => {
    // 50 turns of one tenant at once: above the default per-tenant limit, which this test is not about.
    g = await gatewayHarness({ poolMax: 30, limits: { maxRunningTurns: 50 } });
  });
  after(async () => {
    await g.close();
  });

  it('streams 50 concurrent turns to completion, each with its own correct text', async () => {
    const n = 50;
    // Concurrent requests reach the model in any order: the script is chosen by the user's message.
    g.h.llm.respond((request) => {
      const last = request.body.messages[request.body.messages.length - 1];
      const i = Number(/^question (\d+)$/.exec(String(last?.content))?.[1]);
      return { steps: [{ text: answerTo(i) }], delayMs: 5 };
    });
    const results = await withBoundedWorker(
      g.h,
      () =>
        Promise.all(
          Array.from({ length: n }, async (_, i) => {
            const response = await g.postTurn({ message: `question ${i}` });
            assert.equal(response.status, 200);
            const answer = new AnswerAssembler();
            const events = await readEvents(response);
            for (const e of events) if (e.turnEvent) answer.apply(e.turnEvent);
            return { i, turnId: decodeURIComponent(response.headers.get('turn-id')!), text: answer.text, events };
          }),
        ),
      { maxActivities: 16 },
    );

    for (const r of results) {
      assert.equal(r.events.at(-1)?.event, 'done', `turn ${r.i} ended with ${r.events.at(-1)?.event}`);
      assert.equal(r.text, answerTo(r.i), `turn ${r.i}`);
      const [final] = await finalMessage(g.h.env, r.turnId);
      assert.equal(final?.content, r.text, `turn ${r.i} stored`);
    }
    assert.equal(g.h.llm.requests.length, n);
  });
});
