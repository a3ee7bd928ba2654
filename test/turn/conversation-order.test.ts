import assert from 'node:assert/strict';
import { cancelInConversation, listConversationTurns, TurnConflictError, type OrderedStart } from '../../client';
import { conversationWorkflowIdFor, TurnEvent } from '../../common';
import { STOPPED_TOOL_RESULT } from '../../activities/tool-activities';
import { builtinTools } from '../../activities/tools';
import { turnProgress, type conversation } from '../../workflows';
import { testTools } from './test-tools';
import { storedEvents, turnHarness, type TurnHarness } from './harness';
import {
  answerByMessage,
  answerTo,
  orderedContext,
  requestsFor,
  seenMessages,
  sendOrdered,
  storedTurn,
  waitForEndEvent,
  waitForFinished,
  waitForTurns,
} from './conversation-harness';

/** `m1`, `m2`, … `m<n>`. */
const messages = (n: number) => Array.from({ length: n }, (_, i) => `m${i + 1}`);

/**
 * Sends `m1` (whose answer waits at gate `g1`), then `m2` with policy `steer` once `m1` is at the gate; opens the
 * gate once the conversation holds `m2` for the boundary. Returns both starts.
 */
async function steerWhileHeld(h: TurnHarness): Promise<{ first: OrderedStart; second: OrderedStart }> {
  const first = await sendOrdered(h, 'm1', 'steer');
  await h.llm.gateReached('g1');
  const steered = sendOrdered(h, 'm2', 'steer');
  await waitForTurns(h, (t) => t.steering.length === 1);
  h.llm.release('g1');
  return { first, second: await steered };
}

/** A first turn whose answer streams "partial", then waits at gate `g1` before " rest". */
const HELD_ANSWER = { steps: [{ text: 'partial' }, { waitFor: 'g1' }, { text: ' rest' }] };

describe('conversation order and double-texting', function () {
  this.timeout(180_000);
  let h: TurnHarness;

  beforeEach(async () => {
    h = await turnHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  for (const n of [2, 5]) {
    it(`enqueue: ${n} rapid messages run one at a time, each seeing exactly the turns before it`, async () => {
      const sent = messages(n);
      answerByMessage(h, { m1: HELD_ANSWER });
      // Few turns per run, so five turns cross continue-as-new.
      const conversationId = conversationWorkflowIdFor('default', h.conversationId);
      const first = await h.client.workflow.start<typeof conversation>('conversation', {
        workflowId: conversationId,
        taskQueue: h.taskQueue,
        args: [{ tenantId: 'default', conversationId: h.conversationId, maxTurnsPerRun: 2 }],
      });
      await h.withWorker(async () => {
        const started: OrderedStart[] = [];
        for (const message of sent) started.push(await sendOrdered(h, message, 'enqueue'));
        assert.deepEqual(
          started.map((s) => s.state),
          ['running', ...sent.slice(1).map(() => 'queued')],
        );
        assert.deepEqual(
          started.map((s) => s.position),
          [0, ...sent.slice(1).map((_, i) => i + 1)],
        );
        await h.llm.gateReached('g1');
        const listed = await listConversationTurns(h.client, 'default', h.conversationId);
        assert.equal(listed.running?.turnId, started[0]!.turnId);
        assert.deepEqual(
          listed.queued.map((t) => t.turnId),
          started.slice(1).map((s) => s.turnId),
        );
        // Nothing but the first turn has asked the model while it runs.
        assert.equal(h.llm.requests.length, 1);
        h.llm.release('g1');
        for (const s of started) await waitForFinished(h, s.turnId);

        const history: { user: string; answer: string }[] = [];
        for (const [i, message] of sent.entries()) {
          const answer = i === 0 ? 'partial rest' : answerTo(message);
          const row = await storedTurn(h, started[i]!.turnId);
          assert.equal(row?.status, 'completed');
          assert.equal(row?.content, answer);
          const requests = requestsFor(h, message);
          assert.equal(requests.length, 1, `one LLM request for ${message}`);
          assert.deepEqual(seenMessages(requests[0]!), orderedContext(history, message));
          history.push({ user: message, answer });
          if (i > 0) {
            const events = await waitForEndEvent(h, started[i]!.turnId);
            assert.equal(events[0]?.type, 'queued', `${message} announced it was queued first`);
            assert.equal(events.at(-1)?.type, 'done');
          }
        }
        // The requests reached the model in the order the turns were accepted.
        assert.deepEqual(
          h.llm.requests.map((r) => (r.body.messages.at(-1) as { content: string }).content),
          sent,
        );
        if (n === 5) {
          const latest = await h.client.workflow.getHandle(conversationId).describe();
          assert.notEqual(latest.runId, first.firstExecutionRunId, 'the conversation continued as new');
        }
      });
    });

    it(`reject: with ${n} rapid messages every one sent while a turn runs gets a 409 naming it`, async () => {
      const sent = messages(n);
      answerByMessage(h, { m1: HELD_ANSWER });
      await h.withWorker(async () => {
        const first = await sendOrdered(h, 'm1', 'reject');
        for (const message of sent.slice(1)) {
          await assert.rejects(
            sendOrdered(h, message, 'reject'),
            (err: unknown) =>
              err instanceof TurnConflictError && err.reason === 'busy' && err.runningTurnId === first.turnId,
          );
        }
        h.llm.release('g1');
        assert.equal((await waitForFinished(h, first.turnId)).status, 'completed');
        // The conversation is free once the turn's workflow has closed, a moment after its row was stored.
        await waitForTurns(h, (t) => t.running === null && t.queued.length === 0);
        // Refused requests stored nothing, so the same request can be sent again once the conversation is free.
        const { rows } = await h.env.pool.query(`SELECT id FROM turns WHERE conversation_id = $1`, [h.conversationId]);
        assert.deepEqual(
          rows.map((r: { id: string }) => r.id),
          [first.turnId],
        );
        const again = await sendOrdered(h, 'm2', 'reject');
        await waitForFinished(h, again.turnId);
        assert.deepEqual(
          seenMessages(requestsFor(h, 'm2')[0]!),
          orderedContext([{ user: 'm1', answer: 'partial rest' }], 'm2'),
        );
        assert.equal(h.llm.requests.length, 2);
      });
    });

    it(`interrupt: with ${n} rapid messages each stops the turns before it, and the last sees them all`, async () => {
      const sent = messages(n);
      // Turns between the first and the last, if they get to ask the model at all, wait until interrupted.
      const held = Object.fromEntries(sent.slice(1, -1).map((m) => [m, { steps: [{ waitFor: `never-${m}` }] }]));
      answerByMessage(h, { m1: HELD_ANSWER, ...held });
      await h.withWorker(async () => {
        const started: OrderedStart[] = [await sendOrdered(h, 'm1', 'interrupt')];
        await h.llm.gateReached('g1');
        for (const message of sent.slice(1)) started.push(await sendOrdered(h, message, 'interrupt'));
        const last = started.at(-1)!;
        await waitForFinished(h, last.turnId);
        const history: { user: string; answer: string }[] = [];
        for (const [i, message] of sent.entries()) {
          const row = await storedTurn(h, started[i]!.turnId);
          const isLast = i === sent.length - 1;
          assert.equal(row?.finish_reason, isLast ? 'stop' : 'interrupted', message);
          assert.equal(row?.status, isLast ? 'completed' : 'cancelled');
          // The first turn keeps what it had streamed; later ones were stopped before saying anything.
          const answer = isLast ? answerTo(message) : i === 0 ? 'partial' : '';
          assert.equal(row?.content, answer);
          if (isLast) assert.deepEqual(seenMessages(requestsFor(h, message)[0]!), orderedContext(history, message));
          history.push({ user: message, answer });
        }
      });
    });
  }

  it('interrupt during a tool round gives every call in flight a result: its own or "cancelled"', async () => {
    answerByMessage(h, {
      m1: {
        steps: [
          {
            toolCalls: [
              { id: 'call_a', name: 'echo', arguments: { text: 'hi' } },
              { id: 'call_b', name: 'patient', arguments: {} },
            ],
          },
        ],
      },
    });
    const { tools } = testTools();
    await h.withWorker(
      async () => {
        const first = await sendOrdered(h, 'm1', 'interrupt');
        // The echo call has its result and the patient one is still running.
        for (;;) {
          const echoed = await h.env.pool.query(
            `SELECT 1 FROM messages WHERE turn_id = $1 AND tool_call_id = 'call_a'`,
            [first.turnId],
          );
          const progress = await h.client.workflow
            .getHandle(first.turnId)
            .query(turnProgress)
            .catch(() => undefined);
          if (echoed.rowCount && progress?.toolsRunning.includes('patient')) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const second = await sendOrdered(h, 'm2', 'interrupt');
        await waitForFinished(h, second.turnId);
        const row = await storedTurn(h, first.turnId);
        assert.equal(row?.finish_reason, 'interrupted');
        const results = await h.env.pool.query<{ tool_call_id: string; content: string }>(
          `SELECT tool_call_id, content FROM messages WHERE turn_id = $1 AND kind = 'tool' ORDER BY tool_call_id`,
          [first.turnId],
        );
        assert.deepEqual(
          results.rows.map((r) => [r.tool_call_id, r.content]),
          [
            ['call_a', 'echo: hi'],
            ['call_b', STOPPED_TOOL_RESULT.cancelled],
          ],
        );
        const events = (await storedEvents(h.env, first.turnId)).map((e) => TurnEvent.parse(e));
        assert.deepEqual(events.flatMap((e) => (e.type === 'tool_result' ? [e.toolCallId] : [])).sort(), [
          'call_a',
          'call_b',
        ]);
        assert.equal(events.at(-1)?.type, 'done');
        // An interrupted turn's answer never said what its tools did: the next turn sees its complete tool round.
        assert.deepEqual(seenMessages(requestsFor(h, 'm2')[0]!), [
          { role: 'user', content: 'm1' },
          { role: 'assistant', content: null },
          { role: 'tool', content: 'echo: hi', tool_call_id: 'call_a' },
          { role: 'tool', content: STOPPED_TOOL_RESULT.cancelled, tool_call_id: 'call_b' },
          { role: 'assistant', content: '' },
          { role: 'user', content: 'm2' },
        ]);
      },
      { tools: [...builtinTools(), ...tools] },
    );
  });

  it('steer: a message sent while a tool round runs joins that turn at its next hop boundary', async () => {
    answerByMessage(h, {
      m1: {
        steps: [
          { waitFor: 'g1' },
          { toolCalls: [{ id: 'call_1', name: 'calculate', arguments: { expression: '2+3' } }] },
        ],
      },
    });
    await h.withWorker(async () => {
      const { first, second } = await steerWhileHeld(h);
      assert.equal(second.state, 'steered');
      assert.equal(second.turnId, first.turnId);
      await waitForFinished(h, first.turnId);
      const hop1 = h.llm.requests[1]!;
      assert.deepEqual(
        seenMessages(hop1).map((m) => [m.role, m.role === 'tool' ? 'result' : m.content]),
        [
          ['user', 'm1'],
          ['assistant', null],
          ['tool', 'result'],
          ['user', 'm2'],
        ],
      );
      assert.equal(h.llm.requests.length, 2, 'one answer for both messages');
      // The model answers the message it was steered with (the scripted model answers the last user message).
      assert.equal((await storedTurn(h, first.turnId))?.content, answerTo('m2'));
      const row = await storedTurn(h, second.requestTurnId);
      assert.equal(row?.status, 'steered');
      assert.equal(row?.steered_into, first.turnId);

      const third = await sendOrdered(h, 'm3', 'steer');
      await waitForFinished(h, third.turnId);
      assert.deepEqual(seenMessages(requestsFor(h, 'm3')[0]!), [
        { role: 'user', content: 'm1' },
        { role: 'user', content: 'm2' },
        { role: 'assistant', content: answerTo('m2') },
        { role: 'user', content: 'm3' },
      ]);
    });
  });

  it('steer: five rapid messages all join the running turn, in the order they were sent', async () => {
    answerByMessage(h, {
      m1: {
        steps: [
          { waitFor: 'g1' },
          { toolCalls: [{ id: 'call_1', name: 'calculate', arguments: { expression: '1+1' } }] },
        ],
      },
    });
    await h.withWorker(async () => {
      const first = await sendOrdered(h, 'm1', 'steer');
      await h.llm.gateReached('g1');
      const steered: Promise<OrderedStart>[] = [];
      for (const [i, message] of messages(5).slice(1).entries()) {
        steered.push(sendOrdered(h, message, 'steer'));
        await waitForTurns(h, (t) => t.steering.length === i + 1);
      }
      h.llm.release('g1');
      for (const s of await Promise.all(steered)) assert.equal(s.turnId, first.turnId);
      await waitForFinished(h, first.turnId);
      assert.equal(h.llm.requests.length, 2);
      assert.deepEqual(
        seenMessages(h.llm.requests[1]!)
          .filter((m) => m.role === 'user')
          .map((m) => m.content),
        messages(5),
      );
    });
  });

  it('steer: a message sent during the final hop waits and runs as its own turn', async () => {
    answerByMessage(h, { m1: HELD_ANSWER });
    await h.withWorker(async () => {
      const { first, second } = await steerWhileHeld(h);
      assert.notEqual(second.state, 'steered');
      assert.equal(second.turnId, second.requestTurnId);
      await waitForFinished(h, second.turnId);
      assert.equal((await storedTurn(h, first.turnId))?.content, 'partial rest');
      assert.deepEqual(
        seenMessages(requestsFor(h, 'm2')[0]!),
        orderedContext([{ user: 'm1', answer: 'partial rest' }], 'm2'),
      );
    });
  });

  it('cancelling a queued turn removes it without running it; later turns never see it', async () => {
    answerByMessage(h, { m1: HELD_ANSWER });
    await h.withWorker(async () => {
      const first = await sendOrdered(h, 'm1', 'enqueue');
      const second = await sendOrdered(h, 'm2', 'enqueue');
      const third = await sendOrdered(h, 'm3', 'enqueue');
      await h.llm.gateReached('g1');
      assert.equal(await cancelInConversation(h.client, second.turnId), 'dequeued');
      await waitForTurns(h, (t) => t.queued.length === 1 && t.queued[0]?.turnId === third.turnId);
      h.llm.release('g1');
      await waitForFinished(h, third.turnId);
      assert.equal(requestsFor(h, 'm2').length, 0);
      assert.deepEqual(
        seenMessages(requestsFor(h, 'm3')[0]!),
        orderedContext([{ user: 'm1', answer: 'partial rest' }], 'm3'),
      );
      const row = await storedTurn(h, second.turnId);
      assert.equal(row?.status, 'cancelled');
      assert.equal(row?.content, null);
      const events = (await storedEvents(h.env, second.turnId)).map((e) => TurnEvent.parse(e));
      assert.deepEqual(
        events.map((e) => (e.type === 'error' ? `error:${e.errorType}` : e.type)),
        ['queued', 'error:turn.cancelled_while_queued'],
      );
      await assert.rejects(h.client.workflow.getHandle(second.turnId).describe(), /not found/i);
      assert.equal((await storedTurn(h, first.turnId))?.status, 'completed');
    });
  });

  it('a retried request attaches to its queued turn instead of queueing it twice', async () => {
    answerByMessage(h, { m1: HELD_ANSWER });
    await h.withWorker(async () => {
      await sendOrdered(h, 'm1', 'enqueue');
      const second = await sendOrdered(h, 'm2', 'enqueue', 'req-two');
      const retried = await sendOrdered(h, 'm2', 'enqueue', 'req-two');
      assert.equal(retried.turnId, second.turnId);
      assert.equal(retried.state, 'queued');
      const listed = await listConversationTurns(h.client, 'default', h.conversationId);
      assert.equal(listed.queued.length, 1);
      h.llm.release('g1');
      await waitForFinished(h, second.turnId);
      assert.equal(requestsFor(h, 'm2').length, 1);
    });
  });
});
