import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import { cancelInConversation, startOrderedTurn, type OrderedStart } from '../../client';
import { conversationWorkflowIdFor, type DoubleTextingPolicy } from '../../common';
import { builtinTools, defineTool, RetryableToolError } from '../../activities/tools';
import type { conversation } from '../../workflows';
import type { ScriptInput } from '../../scripted-llm';
import { uniqueId } from '../support';
import { turnHarness, type TurnHarness } from '../turn/harness';
import { waitForFinished, waitForTurns } from '../turn/conversation-harness';

/**
 * Design invariant 12: no user, model or tool text enters Temporal. Every kind of turn runs with unique markers in
 * its user messages, tool arguments, tool results, answers and provider/tool error texts; then every history of the
 * run (each run of each workflow, across continue-as-new) and each workflow's description are searched, as raw
 * bytes, for every marker.
 */
describe('no user, model or tool text in Temporal', function () {
  this.timeout(240_000);
  let h: TurnHarness;
  const markers: string[] = [];
  /** A marker no other string contains: what the test searches the histories for. */
  const marker = (kind: string) => {
    const m = `MK${kind}${randomBytes(6).toString('hex')}`;
    markers.push(m);
    return m;
  };

  before(async () => {
    h = await turnHarness();
  });
  after(async () => {
    await h.close();
  });

  it('runs tools, hop limit, failures, cancel, interrupt, enqueue across continue-as-new and steer without a marker in any history', async () => {
    const toolResult = marker('toolresult');
    const toolError = marker('toolerror');
    const tools = [
      ...builtinTools(),
      defineTool({
        name: 'echo_marker',
        description: 'Echoes its text with a marker.',
        parameters: z.object({ text: z.string() }),
        execute: ({ text }) => Promise.resolve(`${text} ${toolResult}`),
      }),
      defineTool({
        name: 'always_retry',
        description: 'Fails transiently, every time.',
        parameters: z.object({ text: z.string() }),
        retry: { maximumAttempts: 2, initialIntervalMs: 50 },
        execute: ({ text }) => Promise.reject(new RetryableToolError(`${toolError} ${text}`)),
      }),
      defineTool({
        name: 'throws_marker',
        description: 'Throws an error the model reads.',
        parameters: z.object({}),
        execute: () => Promise.reject(new Error(`${toolError} thrown`)),
      }),
    ];
    /** Scripts by the request's last user message; after tool results, `after[that message]`. */
    const scripts = new Map<string, ScriptInput>();
    const after = new Map<string, ScriptInput>();
    h.llm.respond((request) => {
      const messages = request.body.messages as { role: string; content?: unknown }[];
      const lastUser = [...messages].reverse().find((m) => m.role === 'user');
      const text = typeof lastUser?.content === 'string' ? lastUser.content : '';
      const answer = { steps: [{ text: `${marker('answer')} answer` }] };
      if (messages.at(-1)?.role === 'tool') return after.get(text) ?? answer;
      return scripts.get(text) ?? answer;
    });
    const send = (conversationId: string, message: string, policy: DoubleTextingPolicy, extra = {}) =>
      startOrderedTurn(
        { temporal: h.client, pool: h.env.pool },
        { conversationId, requestId: uniqueId('req'), message, doubleTexting: policy, ...extra },
        { taskQueue: h.taskQueue },
      );
    const conversations: string[] = [];
    const conv = () => {
      const id = uniqueId('conv');
      conversations.push(id);
      return id;
    };
    const held = (gate: string): ScriptInput => ({
      steps: [{ text: `${marker('partial')} ` }, { waitFor: gate }, { text: marker('rest') }],
    });

    await h.withWorker(
      async () => {
        const started: OrderedStart[] = [];

        // Tools: arguments and results carry markers; a tool that throws; a tool that fails transiently for good.
        const toolsMessage = marker('user');
        scripts.set(toolsMessage, {
          steps: [
            {
              toolCalls: [
                { id: 'call_a', name: 'echo_marker', arguments: { text: marker('args') } },
                { id: 'call_b', name: 'always_retry', arguments: { text: marker('args') } },
                { id: 'call_c', name: 'throws_marker', arguments: {} },
                { id: 'call_d', name: 'calculate', arguments: { expression: '2+3' } },
              ],
            },
          ],
        });
        started.push(await send(conv(), toolsMessage, 'enqueue'));

        // Hop limit: the model still wants a tool at the last hop.
        const limitMessage = marker('user');
        const again = { steps: [{ toolCalls: [{ name: 'echo_marker', arguments: { text: marker('args') } }] }] };
        scripts.set(limitMessage, again);
        after.set(limitMessage, again);
        started.push(await send(conv(), limitMessage, 'enqueue', { maxHops: 1 }));

        // Failure: the provider answers 400 with a message quoting the user.
        const failMessage = marker('user');
        scripts.set(failMessage, {
          httpError: { status: 400, message: `${marker('provider')} rejected: ${failMessage}` },
        });
        started.push(await send(conv(), failMessage, 'enqueue'));

        // Failure inside the stream: the provider's error event quotes text.
        const streamFailMessage = marker('user');
        scripts.set(streamFailMessage, {
          steps: [{ text: marker('partial') }],
          errorEventAfterChunks: 1,
          errorEvent: { message: `${marker('provider')} stream failed`, code: 'bad_thing' },
        });
        started.push(await send(conv(), streamFailMessage, 'enqueue'));

        // Cancel: stop generating mid-answer.
        const cancelConversation = conv();
        const cancelMessage = marker('user');
        scripts.set(cancelMessage, held('cancel-gate'));
        const cancelled = await send(cancelConversation, cancelMessage, 'enqueue');
        started.push(cancelled);
        await h.llm.gateReached('cancel-gate');
        await cancelInConversation(h.client, cancelled.turnId);
        h.llm.release('cancel-gate');

        // Interrupt: a second message stops the first.
        const interruptConversation = conv();
        const interruptedMessage = marker('user');
        scripts.set(interruptedMessage, held('interrupt-gate'));
        started.push(await send(interruptConversation, interruptedMessage, 'enqueue'));
        await h.llm.gateReached('interrupt-gate');
        started.push(await send(interruptConversation, marker('user'), 'interrupt'));
        h.llm.release('interrupt-gate');

        // Enqueue of five behind a held turn, in a conversation that continues as new every two turns.
        const queueConversation = conv();
        await h.client.workflow.start<typeof conversation>('conversation', {
          workflowId: conversationWorkflowIdFor('default', queueConversation),
          taskQueue: h.taskQueue,
          args: [{ tenantId: 'default', conversationId: queueConversation, maxTurnsPerRun: 2 }],
        });
        const firstQueued = marker('user');
        scripts.set(firstQueued, held('queue-gate'));
        started.push(await send(queueConversation, firstQueued, 'enqueue'));
        await h.llm.gateReached('queue-gate');
        for (let i = 0; i < 5; i += 1) started.push(await send(queueConversation, marker('user'), 'enqueue'));
        h.llm.release('queue-gate');

        // Steer: a message joins a turn held before its tool round.
        const steerConversation = conv();
        const steerFirst = marker('user');
        scripts.set(steerFirst, {
          steps: [{ waitFor: 'steer-gate' }, { toolCalls: [{ name: 'calculate', arguments: { expression: '1+1' } }] }],
        });
        started.push(await send(steerConversation, steerFirst, 'steer'));
        await h.llm.gateReached('steer-gate');
        const steering = send(steerConversation, marker('user'), 'steer');
        await waitForConversation(h, steerConversation, (t) => t.steering.length === 1);
        h.llm.release('steer-gate');
        const steered = await steering;
        assert.equal(steered.state, 'steered');
        started.push(steered);

        for (const s of started) await waitForFinished(h, s.requestTurnId, 90_000);
        const failed = await h.env.pool.query<{ status: string }>(`SELECT status FROM turns WHERE id = ANY($1)`, [
          started.slice(2, 4).map((s) => s.turnId),
        ]);
        assert.deepEqual(
          failed.rows.map((r) => r.status),
          ['failed', 'failed'],
        );
        // Every conversation is idle before its histories are read (the queue one continued as new).
        for (const id of conversations) await waitForConversation(h, id, (t) => !t.running && t.queued.length === 0);
      },
      { tools, llmFailureBudget: 2 },
    );

    // The markers really were used: each kind of text reached Postgres.
    const stored = await h.env.pool.query<{ text: string }>(
      `SELECT coalesce(content, '') || coalesce(tool_calls::text, '') AS text FROM messages
       WHERE tenant_id = 'default' AND conversation_id = ANY($1)`,
      [conversations],
    );
    const storedText = stored.rows.map((r) => r.text).join('\n');
    for (const kind of ['user', 'args', 'toolresult', 'toolerror', 'answer', 'partial']) {
      assert.ok(storedText.includes(`MK${kind}`), `some ${kind} marker is stored in Postgres`);
    }

    const { rows } = await h.env.pool.query<{ id: string }>(
      `SELECT id FROM turns WHERE tenant_id = 'default' AND conversation_id = ANY($1)`,
      [conversations],
    );
    const workflowIds = [
      ...rows.map((r) => r.id),
      ...conversations.map((c) => conversationWorkflowIdFor('default', c)),
    ];
    let histories = 0;
    for (const workflowId of workflowIds) {
      for (const bytes of await everyRunOf(h.client, workflowId)) {
        histories += 1;
        const text = bytes.toString('latin1');
        for (const m of markers) assert.ok(!text.includes(m), `${workflowId}: a history or description holds ${m}`);
      }
    }
    // 7 conversations, one of them over 3 runs; every turn that ran (the steered request's never did).
    assert.ok(histories >= 9 + rows.length - 1, `read ${histories} histories`);
  });
});

/** Waits until the conversation's running/queued/steering turns satisfy `ok`. */
async function waitForConversation(
  h: TurnHarness,
  conversationId: string,
  ok: Parameters<typeof waitForTurns>[1],
): Promise<void> {
  await waitForTurns({ ...h, conversationId }, ok, 60_000);
}

/**
 * The encoded histories of every run of `workflowId` (following continue-as-new back to the first) and each run's
 * description (memo, search attributes, current details), as raw protobuf bytes; none for a workflow that never ran.
 */
async function everyRunOf(client: Client, workflowId: string): Promise<Buffer[]> {
  const service = client.workflowService;
  const namespace = client.options.namespace;
  const out: Buffer[] = [];
  let runId: string | undefined;
  for (;;) {
    let described: temporal.api.workflowservice.v1.DescribeWorkflowExecutionResponse;
    try {
      described = await service.describeWorkflowExecution({
        namespace,
        execution: { workflowId, runId: runId ?? null },
      });
    } catch (err: unknown) {
      if (runId === undefined && (err as { code?: number }).code === 5) return out;
      throw err;
    }
    out.push(Buffer.from(temporal.api.workflowservice.v1.DescribeWorkflowExecutionResponse.encode(described).finish()));
    const history: temporal.api.history.v1.IHistoryEvent[] = [];
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await service.getWorkflowExecutionHistory({
        namespace,
        execution: { workflowId, runId: described.workflowExecutionInfo?.execution?.runId ?? null },
        ...(nextPageToken ? { nextPageToken } : {}),
      });
      history.push(...(page.history?.events ?? []));
      nextPageToken = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
    } while (nextPageToken);
    out.push(Buffer.from(temporal.api.history.v1.History.encode({ events: history }).finish()));
    const previous = history[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    if (!previous) return out;
    runId = previous;
  }
}
