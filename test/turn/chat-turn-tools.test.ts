import assert from 'node:assert/strict';
import type { temporal } from '@temporalio/proto';
import { builtinTools } from '../../activities/tools';
import { AnswerAssembler, TurnEvent, hopLimitWarning, HOP_LIMIT_SEPARATOR, searchAttributeKeys } from '../../common';
import { finalMessage, storedEvents, turnHarness, TEST_MODEL, type TurnHarness } from './harness';
import { testTools } from './test-tools';
import { cancelTurn, turnProgress } from '../../workflows';

/** The activity types of a history's local-activity markers, in order. */
function localActivityTypes(events: readonly temporal.api.history.v1.IHistoryEvent[]): string[] {
  return events.flatMap((e) => {
    const marker = e.markerRecordedEventAttributes;
    const data = marker?.markerName === 'core_local_activity' ? marker.details?.['data']?.payloads?.[0]?.data : null;
    return data ? [(JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type: string }).activity_type] : [];
  });
}

type Msg = {
  role: string;
  content?: unknown;
  tool_call_id?: string;
  tool_calls?: { id: string; function: { name: string } }[];
};

describe('chatTurn tool loop', function () {
  this.timeout(120_000);
  let h: TurnHarness;

  beforeEach(async () => {
    h = await turnHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  const messagesOf = (i: number) => h.llm.requests[i]!.body.messages as Msg[];

  it('runs one tool call and feeds its result to the next hop', async () => {
    h.llm.enqueue(
      {
        steps: [
          { toolCalls: [{ id: 'call_calc', name: 'calculate', arguments: '{"expression":"2+3*4"}', argChunks: 4 }] },
        ],
      },
      { steps: [{ text: 'It is 14.' }] },
    );
    const turn = await h.start({ message: 'what is 2+3*4?' });
    const result = await h.withWorker(() => turn.handle.result());

    assert.equal(result.hops, 1);
    assert.equal(result.finishReason, 'stop');
    assert.equal(h.llm.requests.length, 2);
    const second = messagesOf(1);
    assert.equal(second[0]?.role, 'user');
    assert.equal(second[1]?.role, 'assistant');
    assert.equal(second[1]?.tool_calls?.[0]?.id, 'call_calc');
    assert.equal(second[2]?.role, 'tool');
    assert.equal(second[2]?.tool_call_id, 'call_calc');
    assert.equal(JSON.parse(String(second[2]?.content)).result, 14);
    assert.ok(Array.isArray(h.llm.requests[0]!.body.tools), 'tools are offered to the model');

    const [final] = await finalMessage(h.env, turn.turnId);
    assert.equal(final?.content, 'It is 14.');
    const events = (await storedEvents(h.env, turn.turnId)).map((e) => TurnEvent.parse(e));
    const toolCalls = events.find((e) => e.type === 'tool_calls');
    assert.equal(toolCalls?.type === 'tool_calls' && toolCalls.message, 'Executing 1 tool(s)...');
    const toolResult = events.find((e) => e.type === 'tool_result');
    assert.equal(toolResult?.type === 'tool_result' && toolResult.toolCallId, 'call_calc');
    assert.deepEqual(
      events.map((e) => e.type).filter((t) => t !== 'text'),
      ['tool_calls', 'tool_result', 'done'],
    );

    // What an operator sees in the Temporal UI.
    const description = await turn.handle.describe();
    const attrs = description.typedSearchAttributes;
    assert.equal(attrs.get(searchAttributeKeys.ConversationId), h.conversationId);
    assert.equal(attrs.get(searchAttributeKeys.TurnStatus), 'completed');
    assert.equal(attrs.get(searchAttributeKeys.TurnHops), 1);
    assert.equal(attrs.get(searchAttributeKeys.LlmModel), TEST_MODEL);
    const history = await turn.handle.fetchHistory();
    const summaries = (history.events ?? [])
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => {
        const data = e.userMetadata?.summary?.data;
        return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as string) : null;
      })
      .filter((summary): summary is string => summary !== null);
    // The turn names no model: its first hop prepares the turn on the worker's default, named from the next hop on.
    // `calculate` is a local tool: it runs in the workflow task that saw the call, with no activity of its own, and
    // as the round's only call it announces its own result (the tool_result event above): no recordToolResults.
    assert.deepEqual(summaries, ['llm · hop 0', `llm · hop 1 · ${TEST_MODEL}`]);
    assert.deepEqual(localActivityTypes(history.events ?? []), ['turnflow.executeTool', 'turnflow.completeTurn']);
  });

  it('starts with its search attributes and makes one upsert, at its end, whatever its hops', async () => {
    const call = (id: string) => ({
      steps: [{ toolCalls: [{ id, name: 'calculate', arguments: '{"expression":"1"}' }] }],
    });
    h.llm.enqueue(call('a'), call('b'), { steps: [{ text: 'done' }] });
    const turn = await h.start({ message: 'two rounds' });
    await h.withWorker(() => turn.handle.result());

    const events = (await turn.handle.fetchHistory()).events ?? [];
    const indexed = (attrs: { indexedFields?: Record<string, unknown> | null } | null | undefined) =>
      Object.keys(attrs?.indexedFields ?? {}).sort();
    const started = events[0]?.workflowExecutionStartedEventAttributes;
    assert.deepEqual(indexed(started?.searchAttributes), ['ConversationId', 'TenantId', 'TurnHops', 'TurnStatus']);
    const upserts = events.flatMap((e) => {
      const fields = indexed(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes);
      // The SDK's own upsert of patch versions (`TemporalChangeVersion`) is not the turn's.
      return fields.length > 0 && !fields.includes('TemporalChangeVersion') ? [fields] : [];
    });
    assert.deepEqual(upserts, [['LlmModel', 'TurnHops', 'TurnStatus']]);
    const attrs = (await turn.handle.describe()).typedSearchAttributes;
    assert.equal(attrs.get(searchAttributeKeys.TurnStatus), 'completed');
    assert.equal(attrs.get(searchAttributeKeys.TurnHops), 2);
    assert.equal(attrs.get(searchAttributeKeys.LlmModel), TEST_MODEL);
  });

  it('skips the approval step of a round when no tool offered can need an approval', async () => {
    const call = (id: string) => ({
      steps: [{ toolCalls: [{ id, name: 'calculate', arguments: '{"expression":"1"}' }] }],
    });
    h.llm.enqueue(call('a'), call('b'), { steps: [{ text: 'done' }] });
    const turn = await h.start({ message: 'two rounds, nothing to approve' });
    await h.withWorker(() => turn.handle.result());

    // The turn is prepared by its first LLM activity, not by a local activity of its own; no `requestApprovals`.
    assert.deepEqual(localActivityTypes((await turn.handle.fetchHistory()).events ?? []), [
      'turnflow.executeTool',
      'turnflow.executeTool',
      'turnflow.completeTurn',
    ]);
    const announced = (await storedEvents(h.env, turn.turnId)).map((e) => TurnEvent.parse(e));
    assert.deepEqual(
      announced.flatMap((e) => (e.type === 'tool_result' ? [[e.hop, e.toolCallId]] : [])),
      [
        [0, 'a'],
        [1, 'b'],
      ],
    );
  });

  it('runs parallel calls as separate activities and returns results in the order the model asked', async () => {
    h.llm.enqueue(
      {
        steps: [
          {
            toolCalls: [
              { id: 'call_a', name: 'echo', arguments: '{"text":"first"}' },
              { id: 'call_b', name: 'echo', arguments: '{"text":"second"}' },
            ],
          },
        ],
      },
      { steps: [{ text: 'first and second.' }] },
    );
    const turn = await h.start({ message: 'two echoes' });
    await h.withWorker(() => turn.handle.result(), { tools: [...builtinTools(), ...testTools().tools] });

    const tools = messagesOf(1).filter((m) => m.role === 'tool');
    assert.deepEqual(
      tools.map((m) => [m.tool_call_id, m.content]),
      [
        ['call_a', 'echo: first'],
        ['call_b', 'echo: second'],
      ],
    );
    const events = (await turn.handle.fetchHistory()).events ?? [];
    const scheduled = events.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'turnflow.executeTool',
    );
    assert.equal(scheduled.length, 2);
    assert.ok(!localActivityTypes(events).includes('turnflow.executeTool'), 'echo is not a local tool');
  });

  it("runs a local tool's parallel calls inside the workflow task, results in the order the model asked", async () => {
    h.llm.enqueue(
      {
        steps: [
          {
            toolCalls: [
              { id: 'call_a', name: 'calculate', arguments: '{"expression":"10/4"}' },
              { id: 'call_b', name: 'calculate', arguments: '{"expression":"2^10"}' },
            ],
          },
        ],
      },
      { steps: [{ text: '2.5 and 1024.' }] },
    );
    const turn = await h.start({ message: 'two sums' });
    await h.withWorker(() => turn.handle.result());

    const tools = messagesOf(1).filter((m) => m.role === 'tool');
    assert.deepEqual(
      tools.map((m) => m.tool_call_id),
      ['call_a', 'call_b'],
    );
    assert.deepEqual(
      tools.map((m) => (JSON.parse(String(m.content)) as { result: number }).result),
      [2.5, 1024],
    );
    const events = (await turn.handle.fetchHistory()).events ?? [];
    const activities = events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    assert.deepEqual(activities, ['turnflow.streamCompletion', 'turnflow.streamCompletion']);
    assert.equal(localActivityTypes(events).filter((t) => t === 'turnflow.executeTool').length, 2);
    // Both calls ran in the one workflow task that received them: the hop added a single task, not one per call.
    const tasks = events.filter((e) => e.workflowTaskCompletedEventAttributes).length;
    assert.equal(tasks, 3, 'the start, the tool round after hop 0, the end after hop 1');
  });

  it('follows a three-hop tool chain to the answer', async () => {
    h.llm.enqueue(
      {
        steps: [
          { text: 'Step one. ' },
          { toolCalls: [{ id: 'c1', name: 'calculate', arguments: '{"expression":"1+1"}' }] },
        ],
      },
      { steps: [{ toolCalls: [{ id: 'c2', name: 'calculate', arguments: '{"expression":"2*3"}' }] }] },
      { steps: [{ toolCalls: [{ id: 'c3', name: 'calculate', arguments: '{"expression":"6-1"}' }] }] },
      { steps: [{ text: 'Result: 5.' }] },
    );
    const turn = await h.start({ message: 'chain', maxHops: 5 });
    const result = await h.withWorker(() => turn.handle.result());

    assert.equal(result.hops, 3);
    assert.equal(h.llm.requests.length, 4);
    const last = messagesOf(3);
    assert.deepEqual(
      last.filter((m) => m.role === 'tool').map((m) => m.tool_call_id),
      ['c1', 'c2', 'c3'],
    );
    const [final] = await finalMessage(h.env, turn.turnId);
    // The seed's full_content: the text of every hop, concatenated.
    assert.equal(final?.content, 'Step one. Result: 5.');
  });

  it('stops at the hop limit with the warning appended and finish_reason tool_limit_reached', async () => {
    const call = (id: string) => ({
      steps: [{ text: `try ${id}. ` }, { toolCalls: [{ id, name: 'calculate', arguments: '{"expression":"1"}' }] }],
    });
    h.llm.enqueue(call('a'), call('b'), call('c'));
    const turn = await h.start({ message: 'loop forever', maxHops: 1 });
    const result = await h.withWorker(() => turn.handle.result());

    assert.equal(result.finishReason, 'tool_limit_reached');
    assert.equal(result.hops, 1);
    assert.equal(h.llm.requests.length, 2, 'one tool round, then the limit');
    const [final] = await finalMessage(h.env, turn.turnId);
    assert.equal(final?.content, `try a. try b. ${HOP_LIMIT_SEPARATOR}${hopLimitWarning(1)}`);
    const events = (await storedEvents(h.env, turn.turnId)).map((e) => TurnEvent.parse(e));
    const limit = events.find((e) => e.type === 'hop_limit');
    assert.equal(limit?.type === 'hop_limit' && limit.finishReason, 'tool_limit_reached');
    const answer = new AnswerAssembler();
    events.forEach((e) => answer.apply(e));
    assert.equal(answer.text, final?.content);
    const toolResults = await h.env.pool.query(`SELECT 1 FROM messages WHERE turn_id = $1 AND kind = 'tool'`, [
      turn.turnId,
    ]);
    assert.equal(toolResults.rowCount, 1);
  });

  it('tells the model about every bad tool call and goes on', async () => {
    const { tools, slowAborted } = testTools();
    h.llm.enqueue(
      {
        steps: [
          {
            toolCalls: [
              { id: 'unknown', name: 'no_such_tool', arguments: '{}' },
              { id: 'badjson', name: 'echo', arguments: '{"text": "unterminated' },
              { id: 'badargs', name: 'echo', arguments: '{"text": 42}' },
              { id: 'throws', name: 'boom', arguments: '{}' },
              { id: 'timeout', name: 'slow', arguments: '{}' },
              { id: 'fine', name: 'echo', arguments: '{"text":"ok"}' },
            ],
          },
        ],
      },
      { steps: [{ text: 'Some tools failed.' }] },
    );
    const turn = await h.start({ message: 'use tools badly' });
    const result = await h.withWorker(() => turn.handle.result(), { tools: [...builtinTools(), ...tools] });

    assert.equal(result.status, 'completed');
    const toolMessages = new Map(
      messagesOf(1)
        .filter((m) => m.role === 'tool')
        .map((m) => [m.tool_call_id, String(m.content)]),
    );
    assert.match(toolMessages.get('unknown')!, /no_such_tool/);
    assert.match(toolMessages.get('unknown')!, /echo/, 'lists the tools that exist');
    assert.match(toolMessages.get('badjson')!, /JSON/i);
    assert.match(toolMessages.get('badargs')!, /text/);
    assert.match(toolMessages.get('throws')!, /the boom tool exploded/);
    assert.match(toolMessages.get('timeout')!, /timed out/i);
    assert.equal(toolMessages.get('fine'), 'echo: ok');
    assert.deepEqual(slowAborted, [true], 'the timed-out tool saw its signal abort');
    const stored = await h.env.pool.query<{ tool_call_id: string; is_error: boolean }>(
      `SELECT tool_call_id, is_error FROM messages WHERE turn_id = $1 AND kind = 'tool' ORDER BY tool_call_id`,
      [turn.turnId],
    );
    assert.deepEqual(
      stored.rows.map((r) => [r.tool_call_id, r.is_error]),
      [
        ['badargs', true],
        ['badjson', true],
        ['fine', false],
        ['throws', true],
        ['timeout', true],
        ['unknown', true],
      ],
    );
  });

  it('retries a transiently failing tool under one idempotency key and stores its result once', async () => {
    const { tools, effects } = testTools();
    h.llm.enqueue(
      { steps: [{ toolCalls: [{ id: 'pay', name: 'charge_card', arguments: '{"amount":5}' }] }] },
      { steps: [{ text: 'Charged.' }] },
    );
    const turn = await h.start({ message: 'pay' });
    await h.withWorker(() => turn.handle.result(), { tools });

    assert.equal(effects.length, 2);
    assert.equal(effects[0]?.key, effects[1]?.key);
    assert.equal(effects[0]?.key, `tool:${turn.turnId}:0:pay`);
    const stored = await h.env.pool.query<{ content: string }>(
      `SELECT content FROM messages WHERE turn_id = $1 AND kind = 'tool'`,
      [turn.turnId],
    );
    assert.equal(stored.rowCount, 1);
    assert.deepEqual(JSON.parse(stored.rows[0]!.content), { charged: 5, idempotencyKey: effects[0]?.key });
  });

  it('answers a call whose retries ran out with an error result, and the turn goes on', async () => {
    const { tools } = testTools();
    h.llm.enqueue(
      { steps: [{ toolCalls: [{ id: 'flaky', name: 'always_flaky', arguments: '{}' }] }] },
      { steps: [{ text: 'The tool is down.' }] },
    );
    const turn = await h.start({ message: 'try the flaky tool' });
    const result = await h.withWorker(() => turn.handle.result(), { tools });

    assert.equal(result.status, 'completed');
    const toolMessage = messagesOf(1).find((m) => m.role === 'tool');
    assert.equal(toolMessage?.tool_call_id, 'flaky');
    assert.match(String(toolMessage?.content), /upstream is down/);
    const history = await turn.handle.fetchHistory();
    const failed = (history.events ?? []).filter((e) => e.activityTaskFailedEventAttributes);
    assert.equal(failed.length, 1, 'the activity failed once its two attempts were used');
  });

  it('cancels a running tool through its signal when the caller stops the turn', async () => {
    const { tools, slowAborted } = testTools();
    h.llm.enqueue({
      steps: [{ text: 'Checking. ' }, { toolCalls: [{ id: 'wait', name: 'patient', arguments: '{}' }] }],
    });
    const turn = await h.start({ message: 'run the patient tool' });
    const result = await h.withWorker(
      async () => {
        for (let i = 0; i < 100; i++) {
          if ((await turn.handle.query(turnProgress)).phase === 'tools') break;
          await new Promise((r) => setTimeout(r, 50));
        }
        await turn.handle.signal(cancelTurn, { reason: 'stop' });
        return turn.handle.result();
      },
      { tools },
    );

    assert.equal(result.status, 'cancelled');
    assert.deepEqual(slowAborted, [true], 'the tool saw its signal abort');
    assert.equal((await finalMessage(h.env, turn.turnId))[0]?.content, 'Checking. ');
    assert.equal(h.llm.requests.length, 1, 'no further hop after the stop');
  });
});
