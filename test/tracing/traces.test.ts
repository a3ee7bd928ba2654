import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@temporalio/client';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { startOrderedTurn } from '../../client';
import { turnIdFor } from '../../common';
import { loadTracingConfig, type Tracing } from '../../tracing';
import { clientTracingInterceptors } from '../../tracing/client';
import { startTracing } from '../../tracing/sdk';
import { TRACING_WORKFLOW_INTERCEPTORS } from '../../tracing/worker';
import { WORKFLOWS_PATH } from '../../worker/create-worker';
import { gatewayHarness, readEvents, type GatewayHarness } from '../gateway/harness';
import { uniqueId } from '../support';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver';
import { spawnWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { TEST_MODEL } from '../turn/harness';

const SPAN_KIND_SERVER = 2;
const STATUS_ERROR = 2;
const CHAT = `chat ${TEST_MODEL}`;
const TURN_ROUTE = 'POST /v1/conversations/:id/turns';

/** A W3C trace context of the test's own: the request's server span continues it, so its trace id is known. */
function traceparent(): { header: string; traceId: string; spanId: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { header: `00-${traceId}-${spanId}-01`, traceId, spanId };
}

describe('traces: OTLP spans of every turn, from its request through the workflows to each LLM attempt and tool', function () {
  this.timeout(240_000);
  let receiver: OtlpReceiver;
  let tracing: Tracing;
  let bundle: WorkflowBundleWithSourceMap;
  let g: GatewayHarness;
  const children: WorkerProcess[] = [];

  before(async () => {
    receiver = await startOtlpReceiver();
    // The variables a user sets; the SDK posts real OTLP/HTTP JSON to the receiver.
    const config = loadTracingConfig('turnflow-test', { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
    assert.ok(config);
    assert.equal(config.captureMessageContent, false);
    tracing = startTracing(config);
    bundle = await bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      workflowInterceptorModules: [TRACING_WORKFLOW_INTERCEPTORS],
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: (m: string) => console.error(m) },
    });
  });
  after(async () => {
    await tracing?.shutdown();
    await receiver?.close();
  });
  beforeEach(async () => {
    // Through the conversation's workflow: the span chains below are those of update-with-start and its child.
    g = await gatewayHarness({ tracing, startTimeoutMs: 60_000, directStart: false });
  });
  afterEach(async () => {
    for (const child of children.splice(0)) await child.kill();
    await g.close();
  });

  /** Starts a turn over HTTP under the caller's trace context `parent`. */
  function post(body: Record<string, unknown>, parent: string): Promise<Response> {
    return g.request(`/v1/conversations/${g.h.conversationId}/turns`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: parent },
      body: JSON.stringify(body),
    });
  }

  /** Spans of one trace, by id, and a check that each descends from `root`. */
  function traceOf(traceId: string) {
    const spans = receiver.spans.filter((s) => s.traceId === traceId);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const ancestry = (span: ReceivedSpan): string[] => {
      const names: string[] = [];
      for (let at = byId.get(span.parentSpanId ?? ''); at; at = byId.get(at.parentSpanId ?? '')) names.push(at.name);
      return names;
    };
    const one = (name: string, where: (s: ReceivedSpan) => boolean = () => true) => {
      const found = spans.filter((s) => s.name === name && where(s));
      assert.equal(found.length, 1, `one ${name} span in the trace: ${spans.map((s) => s.name).join(', ')}`);
      return found[0]!;
    };
    return { spans, byId, ancestry, one, parent: (s: ReceivedSpan) => byId.get(s.parentSpanId ?? '') };
  }

  const chatSpansOf = (turnId: string) =>
    receiver.spans
      .filter((s) => s.name === CHAT && s.attributes['turnflow.turn_id'] === turnId)
      .sort(
        (a, b) =>
          Number(a.attributes['turnflow.hop']) * 100 +
          Number(a.attributes['turnflow.attempt']) -
          (Number(b.attributes['turnflow.hop']) * 100 + Number(b.attributes['turnflow.attempt'])),
      );

  it('puts a turn in one trace under its request: workflows, a span per LLM attempt (the failed one with its error, the retry linked to it), the tool, and no text', async () => {
    const userWords = uniqueId('user-secret');
    const modelWords = uniqueId('model-secret');
    g.h.llm.enqueue(
      // hop 0: a 500, then the retry asks for a tool
      { httpError: { status: 500 } },
      {
        steps: [{ toolCalls: [{ id: 'call_traced', name: 'calculate', arguments: '{"expression":"6*7"}' }] }],
        usage: { prompt_tokens: 12, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 4 } },
      },
      // hop 1: the answer
      { steps: [{ text: `It is 42, ${modelWords}.` }], usage: { prompt_tokens: 20, completion_tokens: 4 } },
    );
    const caller = traceparent();
    const requestId = uniqueId('req');
    const turnId = turnIdFor('acme', g.h.conversationId, requestId);
    await g.h.withWorker(
      async () => {
        const response = await post({ requestId, message: `what is 6*7? ${userWords}` }, caller.header);
        assert.equal(response.status, 200);
        assert.equal((await readEvents(response)).at(-1)?.turnEvent?.type, 'done');
        // The turn's workflow spans leave the worker when its last workflow task completes.
        await receiver.waitFor(
          (spans) =>
            spans.some((s) => s.traceId === caller.traceId && s.name === 'RunWorkflow:chatTurn') &&
            chatSpansOf(turnId).length === 3 &&
            spans.some((s) => s.name === 'execute_tool calculate' && s.attributes['turnflow.turn_id'] === turnId),
        );
      },
      { tracing, workflowBundle: bundle },
    );

    const t = traceOf(caller.traceId);
    // The request's span continues the caller's context; everything below it is one tree.
    const server = t.one(TURN_ROUTE);
    assert.equal(server.parentSpanId, caller.spanId);
    assert.equal(server.kind, SPAN_KIND_SERVER);
    assert.equal(server.attributes['http.response.status_code'], 200);
    assert.equal(server.attributes['http.route'], '/v1/conversations/:id/turns');
    const run = t.one('RunWorkflow:chatTurn');
    assert.deepEqual(t.ancestry(run).slice(0, 4), [
      'StartChildWorkflow:chatTurn',
      'HandleUpdate:submitTurn',
      'UpdateWithStartWorkflow:submitTurn',
      TURN_ROUTE,
    ]);
    const queueWait = t.one('queue_wait');
    assert.equal(t.parent(queueWait)?.name, 'HandleUpdate:submitTurn');
    assert.equal(queueWait.attributes['turnflow.turn_id'], turnId);
    for (const span of t.spans.filter((s) => s.name.startsWith('RunActivity:'))) {
      assert.ok(t.ancestry(span).includes('RunWorkflow:chatTurn'), `${span.name} descends from the turn's run`);
      assert.equal(t.ancestry(span).at(-1), TURN_ROUTE, `${span.name} is in the request's tree`);
    }

    // One span per LLM attempt, each under its own activity attempt: (hop 0, 1) failed, (0, 2) retried, (1, 1).
    const chats = chatSpansOf(turnId);
    assert.deepEqual(
      chats.map((s) => [s.attributes['turnflow.hop'], s.attributes['turnflow.attempt']]),
      [
        [0, 1],
        [0, 2],
        [1, 1],
      ],
    );
    assert.ok(chats.every((s) => s.traceId === caller.traceId));
    const [failed, retried, answer] = chats as [ReceivedSpan, ReceivedSpan, ReceivedSpan];
    for (const span of chats) {
      assert.equal(span.attributes['gen_ai.operation.name'], 'chat');
      assert.equal(span.attributes['gen_ai.provider.name'], 'openai');
      assert.equal(span.attributes['gen_ai.request.model'], TEST_MODEL);
      assert.equal(t.parent(span)?.name, 'RunActivity:turnflow.streamCompletion');
    }
    assert.notEqual(failed.parentSpanId, retried.parentSpanId, 'each attempt has its own activity span');
    assert.equal(t.parent(failed)?.status.code, STATUS_ERROR);
    assert.equal(failed.status.code, STATUS_ERROR);
    assert.equal(failed.attributes['error.type'], 'llm.server_error');
    assert.equal(failed.attributes['gen_ai.usage.input_tokens'], undefined, 'a 500 reports no usage');

    assert.deepEqual(
      retried.links.map((l) => [l.traceId, l.spanId, l.attributes['turnflow.attempt']]),
      [[caller.traceId, failed.spanId, 1]],
      'the retry links to the attempt it replaced',
    );
    assert.deepEqual(answer.links, []);
    assert.equal(retried.attributes['error.type'], undefined);
    assert.notEqual(retried.status.code, STATUS_ERROR);
    assert.equal(retried.attributes['gen_ai.usage.input_tokens'], 12);
    assert.equal(retried.attributes['gen_ai.usage.output_tokens'], 3);
    assert.equal(retried.attributes['gen_ai.usage.cache_read.input_tokens'], 4);
    assert.deepEqual(retried.attributes['gen_ai.response.finish_reasons'], ['tool_calls']);
    assert.equal(answer.attributes['gen_ai.usage.input_tokens'], 20);
    assert.equal(answer.attributes['gen_ai.usage.output_tokens'], 4);
    assert.equal(answer.attributes['gen_ai.usage.cache_read.input_tokens'], 0);
    assert.deepEqual(answer.attributes['gen_ai.response.finish_reasons'], ['stop']);

    const tool = t.one('execute_tool calculate');
    assert.equal(t.parent(tool)?.name, 'RunActivity:turnflow.executeTool');
    assert.equal(tool.attributes['gen_ai.operation.name'], 'execute_tool');
    assert.equal(tool.attributes['gen_ai.tool.name'], 'calculate');
    assert.equal(tool.attributes['gen_ai.tool.call.id'], 'call_traced');

    // Ids, names and counts only: neither the user's words, the model's, nor the tool's arguments.
    const all = receiver.bodies.join('\n');
    for (const text of [userWords, modelWords, '6*7', 'It is 42']) assert.ok(!all.includes(text), `"${text}" exported`);
    assert.ok(!('gen_ai.input.messages' in answer.attributes));
  });

  it("keeps a turn queued behind another in its own request's trace, its wait a queue_wait span", async () => {
    g.h.llm.enqueue(
      {
        steps: [{ text: 'First' }, { waitFor: 'hold' }, { text: ' done.' }],
        usage: { prompt_tokens: 5, completion_tokens: 2 },
      },
      { steps: [{ text: 'Second.' }], usage: { prompt_tokens: 7, completion_tokens: 1 } },
    );
    const [a, b] = [traceparent(), traceparent()];
    const [ra, rb] = [uniqueId('req'), uniqueId('req')];
    const [ta, tb] = [turnIdFor('acme', g.h.conversationId, ra), turnIdFor('acme', g.h.conversationId, rb)];
    const heldMs = 500;
    await g.h.withWorker(
      async () => {
        const first = await post({ requestId: ra, message: 'one' }, a.header);
        await g.h.llm.gateReached('hold');
        const second = await post({ requestId: rb, message: 'two', doubleTexting: 'enqueue' }, b.header);
        assert.equal(second.status, 200);
        await sleep(heldMs);
        g.h.llm.release('hold');
        assert.equal((await readEvents(first)).at(-1)?.turnEvent?.type, 'done');
        assert.equal((await readEvents(second)).at(-1)?.turnEvent?.type, 'done');
        await receiver.waitFor(
          (spans) =>
            chatSpansOf(tb).length === 1 &&
            spans.filter((s) => s.name === 'RunWorkflow:chatTurn' && [a.traceId, b.traceId].includes(s.traceId))
              .length === 2,
        );
      },
      { tracing, workflowBundle: bundle },
    );

    const [chatA] = chatSpansOf(ta);
    const [chatB] = chatSpansOf(tb);
    assert.equal(chatA?.traceId, a.traceId);
    assert.equal(chatB?.traceId, b.traceId, "the queued turn's LLM call is in its own request's trace");
    const tB = traceOf(b.traceId);
    assert.equal(tB.ancestry(chatB).at(-1), TURN_ROUTE);
    assert.ok(tB.ancestry(chatB).includes('RunWorkflow:chatTurn'));
    assert.equal(tB.one(TURN_ROUTE).parentSpanId, b.spanId);
    // The second turn waited at least as long as the first was held after it was accepted.
    const wait = tB.one('queue_wait');
    assert.ok(
      wait.endNs - wait.startNs >= BigInt(heldMs) * 1_000_000n,
      `waited ${(wait.endNs - wait.startNs) / 1_000_000n} ms`,
    );
    // The conversation's run belongs to the request that started it, not to the queued one.
    assert.equal(traceOf(b.traceId).spans.filter((s) => s.name === 'RunWorkflow:conversation').length, 0);
  });

  it('puts messages, tool arguments and results in spans only with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true (a worker process configured by the variables)', async () => {
    const userWords = uniqueId('user-words');
    const modelWords = uniqueId('model-words');
    g.h.llm.enqueue(
      { steps: [{ toolCalls: [{ id: 'call_cap', name: 'calculate', arguments: '{"expression":"2+3"}' }] }] },
      { steps: [{ text: `Five, ${modelWords}.` }], usage: { prompt_tokens: 9, completion_tokens: 2 } },
    );
    const child = await tracedWorker('capturing-worker', {
      OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true',
    });
    assert.match(child.output(), /turnflow worker exports traces/);
    const caller = traceparent();
    const requestId = uniqueId('req');
    const turnId = turnIdFor('acme', g.h.conversationId, requestId);
    const response = await post({ requestId, message: `add 2 and 3, ${userWords}` }, caller.header);
    assert.equal((await readEvents(response)).at(-1)?.turnEvent?.type, 'done');
    await receiver.waitFor(
      () =>
        chatSpansOf(turnId).length === 2 &&
        receiver.spans.some((s) => s.name === 'execute_tool calculate' && s.attributes['turnflow.turn_id'] === turnId),
    );
    const [ask, answer] = chatSpansOf(turnId) as [ReceivedSpan, ReceivedSpan];
    assert.equal(ask.service, 'capturing-worker');
    assert.equal(ask.traceId, caller.traceId, "the worker process's spans join the gateway's trace");
    assert.ok(JSON.stringify(ask.attributes['gen_ai.input.messages']).includes(userWords));
    assert.ok(JSON.stringify(answer.attributes['gen_ai.output.messages']).includes(modelWords));
    const tool = receiver.spans.find(
      (s) => s.name === 'execute_tool calculate' && s.attributes['turnflow.turn_id'] === turnId,
    )!;
    assert.equal(tool.attributes['gen_ai.tool.call.arguments'], '{"expression":"2+3"}');
    assert.equal(tool.attributes['gen_ai.tool.call.result'], '{"expression":"2+3","result":5}');
  });
  /** A worker process exporting to the receiver as `service`, with `extra` variables. */
  async function tracedWorker(service: string, extra: Record<string, string> = {}): Promise<WorkerProcess> {
    const child = spawnWorkerProcess({
      // A tracing worker bundles the tracing interceptors with its workflows: not the run's shared bundle.
      prebuiltBundle: false,
      temporalAddress: g.h.env.temporal.address,
      databaseUrl: g.h.env.databaseUrl,
      taskQueue: g.h.taskQueue,
      llmBaseUrl: g.h.llm.baseURL,
      model: TEST_MODEL,
      extra: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: service, ...extra },
    });
    children.push(child);
    await child.waitForOutput(/turnflow worker running/);
    return child;
  }

  it('links the retry of an attempt whose worker was SIGKILLed mid-stream to that attempt, whose span ids were stored when it started', async () => {
    g.h.llm.enqueue(
      { steps: [{ text: 'Half' }, { waitFor: 'crash' }, { text: ' never sent.' }] },
      { steps: [{ text: 'Whole.' }], usage: { prompt_tokens: 6, completion_tokens: 3 } },
    );
    const caller = traceparent();
    const requestId = uniqueId('req');
    const turnId = turnIdFor('acme', g.h.conversationId, requestId);
    const doomed = await tracedWorker('doomed-worker');
    const response = await post({ requestId, message: 'crash' }, caller.header);
    await g.h.llm.gateReached('crash');
    const stored = await g.pool.query<{ trace_id: string; span_id: string }>(
      `SELECT trace_id, span_id FROM llm_attempt_spans WHERE turn_id = $1 AND hop = 0 AND attempt = 1`,
      [turnId],
    );
    assert.equal(stored.rows[0]?.trace_id, caller.traceId);
    const killedSpanId = stored.rows[0].span_id;
    await doomed.kill();

    await tracedWorker('successor-worker');
    assert.equal((await readEvents(response)).at(-1)?.turnEvent?.type, 'done');
    await receiver.waitFor(() => chatSpansOf(turnId).some((s) => s.attributes['turnflow.attempt'] === 2));
    const [retry, ...others] = chatSpansOf(turnId);
    assert.deepEqual(others, [], 'the killed attempt never ended, so its span was never exported');
    assert.equal(retry!.service, 'successor-worker');
    assert.equal(retry!.traceId, caller.traceId);
    assert.deepEqual(
      retry!.links.map((l) => [l.traceId, l.spanId]),
      [[caller.traceId, killedSpanId]],
    );
    assert.equal(retry!.attributes['gen_ai.usage.input_tokens'], 6);
  });

  it("starts a turn in the TurnClient caller's active span, and a queued turn keeps its caller's trace across the conversation's continue-as-new", async () => {
    g.h.llm.enqueue(
      { steps: [{ text: 'First' }, { waitFor: 'hold-can' }, { text: ' done.' }] },
      { steps: [{ text: 'Second.' }] },
    );
    const temporal = new Client({ connection: g.h.client.connection, interceptors: clientTracingInterceptors() });
    // One turn per run: the queued turn is carried into the next run by continue-as-new.
    const start = (requestId: string) =>
      startOrderedTurn(
        { temporal, pool: g.pool },
        { tenantId: 'acme', conversationId: g.h.conversationId, requestId, message: 'hi' },
        { taskQueue: g.h.taskQueue, conversation: { maxTurnsPerRun: 1 }, startTimeoutMs: 60_000, directStart: false },
      );
    await g.h.withWorker(
      async () => {
        const inSpan = (name: string, requestId: string) =>
          tracing.tracer.startActiveSpan(name, async (span) => {
            try {
              return {
                started: await start(requestId),
                traceId: span.spanContext().traceId,
                spanId: span.spanContext().spanId,
              };
            } finally {
              span.end();
            }
          });
        const first = await inSpan('caller one', uniqueId('req'));
        await g.h.llm.gateReached('hold-can');
        const second = await inSpan('caller two', uniqueId('req'));
        assert.equal(second.started.state, 'queued');
        g.h.llm.release('hold-can');
        await first.started.handle.result();
        // Queued: its workflow starts only after the first turn (and the continue-as-new); its spans say when it ran.
        await receiver.waitFor(
          () =>
            chatSpansOf(second.started.turnId).length === 1 &&
            receiver.spans.some((s) => s.name === 'ContinueAsNew:conversation'),
        );
        assert.equal(chatSpansOf(first.started.turnId)[0]?.traceId, first.traceId);
        const t = traceOf(second.traceId);
        const chat = chatSpansOf(second.started.turnId)[0]!;
        assert.equal(chat.traceId, second.traceId, "the queued turn runs in its caller's trace after continue-as-new");
        const ancestry = t.ancestry(chat);
        assert.ok(ancestry.includes('RunWorkflow:chatTurn'));
        assert.equal(ancestry.at(-1), 'caller two');
        assert.equal(t.one('caller two').spanId, second.spanId);
        // The second turn was started by the conversation's next run, not the one that accepted it.
        const continued = receiver.spans.find(
          (x) =>
            x.name === 'ContinueAsNew:conversation' &&
            x.attributes['workflowId'] === `conversation/acme/${g.h.conversationId}`,
        );
        assert.equal(continued?.traceId, first.traceId, 'the run belongs to the trace of the request that started it');
        const childStart = t.one('StartChildWorkflow:chatTurn');
        assert.equal(childStart.attributes['workflowId'], continued.attributes['workflowId']);
        assert.notEqual(childStart.attributes['runId'], continued.attributes['runId']);
      },
      { tracing, workflowBundle: bundle },
    );
  });
});
