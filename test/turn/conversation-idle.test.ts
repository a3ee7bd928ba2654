import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startOrderedTurn } from '../../client';
import { conversationWorkflowIdFor } from '../../common';
import { uniqueId } from '../support';
import {
  answerByMessage,
  answerTo,
  orderedContext,
  requestsFor,
  seenMessages,
  waitForFinished,
} from './conversation-harness';
import { turnHarness, type TurnHarness } from './harness';

const IDLE_MS = 200;
const MESSAGES = 16;

/** An idle conversation's workflow completes; the next message starts a new run and finds the whole conversation. */
describe('idle conversations', function () {
  this.timeout(240_000);
  let h: TurnHarness;

  before(async () => {
    h = await turnHarness();
    answerByMessage(h);
  });
  after(async () => {
    await h.close();
  });

  async function runs(conversationId: string): Promise<{ status: string }[]> {
    const workflowId = conversationWorkflowIdFor('default', conversationId);
    const out: { status: string }[] = [];
    for await (const e of h.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      out.push({ status: e.status.name });
    }
    return out;
  }

  it('completes the workflow of a conversation idle past idleMs, and a later message starts a new run', async () => {
    const conversationId = uniqueId('idle');
    const send = (message: string, requestId: string) =>
      startOrderedTurn(
        { temporal: h.client, pool: h.env.pool },
        { conversationId, requestId, message },
        // Through the conversation's workflow, whose runs this test watches (a direct start would not start one).
        { taskQueue: h.taskQueue, conversation: { idleMs: IDLE_MS }, directStart: false },
      );
    await h.withWorker(async () => {
      const first = await send('before the pause', 'r1');
      await waitForFinished(h, first.turnId);
      const handle = h.client.workflow.getHandle(conversationWorkflowIdFor('default', conversationId));
      await handle.result();
      const second = await send('after the pause', 'r2');
      await waitForFinished(h, second.turnId);
      // The new run's turn saw the first turn, stored in Postgres, not carried by the closed run.
      const [request] = requestsFor(h, 'after the pause');
      assert.ok(request);
      assert.deepEqual(
        seenMessages(request),
        orderedContext([{ user: 'before the pause', answer: answerTo('before the pause') }], 'after the pause'),
      );
    });
    const all = await runs(conversationId);
    assert.equal(all.length, 2, 'one run per busy period');
    assert.ok(all.some((r) => r.status === 'COMPLETED'));
  });

  it(`loses and doubles nothing when ${MESSAGES} messages arrive right as the conversation closes`, async () => {
    const conversationId = uniqueId('idle-race');
    const messages = Array.from({ length: MESSAGES }, (_, i) => `${conversationId} m${i}`);
    await h.withWorker(async () => {
      for (const [i, message] of messages.entries()) {
        const started = await startOrderedTurn(
          { temporal: h.client, pool: h.env.pool },
          { conversationId, requestId: `r${i}`, message },
          { taskQueue: h.taskQueue, startTimeoutMs: 60_000, conversation: { idleMs: IDLE_MS }, directStart: false },
        );
        await waitForFinished(h, started.turnId);
        // The next message right after the run closed, or aimed at the moment it closes (a little before or after).
        if (i % 2 === 0)
          await h.client.workflow.getHandle(conversationWorkflowIdFor('default', conversationId)).result();
        else await sleep(IDLE_MS - 60 + ((i * 37) % 140));
      }
    });
    // Every message reached the model exactly once, in order, seeing every turn before it.
    const history: { user: string; answer: string }[] = [];
    for (const message of messages) {
      const requests = requestsFor(h, message);
      assert.equal(requests.length, 1, `${message} reached the model once`);
      assert.deepEqual(seenMessages(requests[0]!), orderedContext(history, message));
      history.push({ user: message, answer: answerTo(message) });
    }
    const all = await runs(conversationId);
    assert.ok(all.length > 1, `the conversation closed and started again (${all.length} runs)`);
  });
});
