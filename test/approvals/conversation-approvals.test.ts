import assert from 'node:assert/strict';
import { decideApproval, listConversationTurns, TurnConflictError } from '../../client';
import type { DoubleTextingPolicy } from '../../common';
import { turnHarness, type TurnHarness } from '../turn/harness';
import {
  answerByMessage,
  answerTo,
  requestsFor,
  seenMessages,
  sendOrdered,
  storedTurn,
  waitForFinished,
} from '../turn/conversation-harness';
import { approvalTools, decided, requested } from './approval-tools';

const SUPERSEDED = 'The user sent a new message instead of approving this tool call, so it did not run.';
const MAIL_CALL = { id: 'call_mail', name: 'send_email', arguments: '{"to":"a@b.c"}' };

describe('tool approvals in a conversation', function () {
  this.timeout(240_000);
  let h: TurnHarness;

  beforeEach(async () => {
    h = await turnHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  /** What the turn after a superseded `m1` sends the model: m1's call with its denial, then `m2`. */
  const contextAfterDenial = [
    { role: 'user', content: 'm1' },
    { role: 'assistant', content: null },
    { role: 'tool', content: SUPERSEDED, tool_call_id: 'call_mail' },
    { role: 'assistant', content: '' },
    { role: 'user', content: 'm2' },
  ];

  for (const policy of ['enqueue', 'steer', 'interrupt'] as DoubleTextingPolicy[]) {
    it(`${policy}: a new message while a call waits denies it (superseded), ends the turn without another model call, and the next turn sees the denial`, async () => {
      const { runs, tools } = approvalTools();
      answerByMessage(h, { m1: { steps: [{ toolCalls: [MAIL_CALL] }] } });
      await h.withWorker(
        async () => {
          const first = await sendOrdered(h, 'm1', policy);
          await requested(h.env, first.turnId, 1);
          const second = await sendOrdered(h, 'm2', policy);
          assert.notEqual(second.state, 'steered', 'a waiting turn takes no steered message');
          const row = await waitForFinished(h, second.turnId);
          assert.equal(row.content, answerTo('m2'));
          const firstRow = await storedTurn(h, first.turnId);
          assert.deepEqual([firstRow?.status, firstRow?.finish_reason], ['cancelled', 'interrupted']);
          assert.deepEqual(
            (await decided(h.env, first.turnId)).map((d) => [d.toolCallId, d.approved, d.decidedBy]),
            [['call_mail', false, 'superseded']],
          );
          assert.equal(requestsFor(h, 'm1').length, 1, 'no model call after the denial');
          assert.equal(h.llm.requests.length, 2);
          assert.deepEqual(seenMessages(requestsFor(h, 'm2')[0]!), contextAfterDenial);
        },
        { tools },
      );
      assert.equal(runs.length, 0, 'the denied call never ran');
    });
  }

  it('a message queued before the call asks supersedes it as soon as it asks', async () => {
    const { runs, tools } = approvalTools();
    answerByMessage(h, { m1: { steps: [{ waitFor: 'g1' }, { toolCalls: [MAIL_CALL] }] } });
    await h.withWorker(
      async () => {
        const first = await sendOrdered(h, 'm1', 'enqueue');
        await h.llm.gateReached('g1');
        const second = await sendOrdered(h, 'm2', 'enqueue');
        assert.equal(second.state, 'queued');
        h.llm.release('g1');
        await waitForFinished(h, second.turnId);
        assert.deepEqual(
          (await decided(h.env, first.turnId)).map((d) => [d.approved, d.decidedBy]),
          [[false, 'superseded']],
        );
        assert.equal((await storedTurn(h, first.turnId))?.finish_reason, 'interrupted');
        assert.deepEqual(seenMessages(requestsFor(h, 'm2')[0]!), contextAfterDenial);
      },
      { tools },
    );
    assert.equal(runs.length, 0);
  });

  it('reject: a new message while a call waits is refused (409) and the call still waits for its decision', async () => {
    const { runs, tools } = approvalTools();
    answerByMessage(h, { m1: { steps: [{ toolCalls: [MAIL_CALL] }] } });
    await h.withWorker(
      async () => {
        const first = await sendOrdered(h, 'm1', 'reject');
        const [req] = await requested(h.env, first.turnId, 1);
        await assert.rejects(
          sendOrdered(h, 'm2', 'reject'),
          (err: unknown) => err instanceof TurnConflictError && err.runningTurnId === first.turnId,
        );
        // With the pool, as `TurnClient.turns()` lists: a turn started directly is running before the conversation
        // adopts it (a refused message does not make it).
        const turns = await listConversationTurns(h.client, 'default', h.conversationId, h.env.pool);
        assert.equal(turns.running?.turnId, first.turnId);
        assert.equal(turns.queued.length, 0);
        await decideApproval(
          { temporal: h.client, pool: h.env.pool },
          { turnId: first.turnId, approvalId: req!.approvalId },
          { approved: true },
        );
        const row = await waitForFinished(h, first.turnId);
        assert.deepEqual([row.status, row.content], ['completed', 'done with tools']);
      },
      { tools },
    );
    assert.deepEqual(
      runs.map((r) => r.tool),
      ['send_email'],
    );
  });
});
