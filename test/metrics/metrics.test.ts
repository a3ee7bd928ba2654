import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { TURN_OUTCOME_SQL } from '../../client';
import { createGatewayMetrics, startMetricsServer, type MetricsServer } from '../../metrics';
import { gatewayHarness, readEvents, type GatewayHarness } from '../gateway/harness';
import { freePort } from '../support';
import { histogramCount, parsePrometheusText, scrape, sumBy, type Scrape } from '../support/prometheus';
import { spawnWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { TEST_MODEL } from '../turn/harness';

describe('metrics: Prometheus endpoints whose counters equal the database', function () {
  this.timeout(240_000);
  let g: GatewayHarness;
  let gatewayMetrics: MetricsServer;
  const children: WorkerProcess[] = [];

  beforeEach(async () => {
    const registry = new Registry();
    // A just-spawned worker may take a while to poll: starts wait for it.
    g = await gatewayHarness({ metrics: createGatewayMetrics(registry), startTimeoutMs: 60_000 });
    gatewayMetrics = await startMetricsServer(registry, { port: 0 });
  });
  afterEach(async () => {
    for (const child of children.splice(0)) await child.kill();
    await gatewayMetrics.close();
    await g.close();
  });

  /** A worker process serving its metrics on a port of its choosing; resolves with the URL it logged. */
  async function metricsWorker(extra: Record<string, string> = {}): Promise<{ child: WorkerProcess; url: string }> {
    const child = spawnWorkerProcess({
      temporalAddress: g.h.env.temporal.address,
      databaseUrl: g.h.env.databaseUrl,
      taskQueue: g.h.taskQueue,
      llmBaseUrl: g.h.llm.baseURL,
      model: TEST_MODEL,
      extra: { LOG_LEVEL: 'info', TURNFLOW_METRICS_PORT: '0', ...extra },
    });
    children.push(child);
    await child.waitForOutput(/turnflow worker running/);
    const url = /"url":"([^"]+)"[^\n]*turnflow worker metrics/.exec(child.output())![1]!;
    return { child, url };
  }

  /** Posts a turn and reads its stream to the end; returns the last event's type. */
  async function turn(message: string): Promise<string | undefined> {
    const response = await g.postTurn({ message });
    assert.equal(response.status, 200);
    return (await readEvents(response)).at(-1)?.turnEvent?.type;
  }

  it('counts turns, attempts, tokens and tool calls once each across a SIGKILLed worker and its successor', async () => {
    g.h.llm.enqueue(
      // (a) a plain turn
      { steps: [{ text: 'Plain.' }], usage: { prompt_tokens: 10, completion_tokens: 2 } },
      // (b) a tool turn: two hops, one tool call
      {
        steps: [{ toolCalls: [{ id: 'c1', name: 'calculate', arguments: '{"expression":"6*7"}' }] }],
        usage: { prompt_tokens: 12, completion_tokens: 3 },
      },
      { steps: [{ text: 'It is 42.' }], usage: { prompt_tokens: 20, completion_tokens: 4 } },
      // (c) a 500, then a retry that answers
      { httpError: { status: 500 } },
      { steps: [{ text: 'Retried.' }], usage: { prompt_tokens: 8, completion_tokens: 1 } },
      // (d) a stream whose worker is SIGKILLed, then the successor's attempt
      { steps: [{ text: 'Half' }, { waitFor: 'crash' }, { text: ' never sent.' }] },
      { steps: [{ text: 'Whole.' }], usage: { prompt_tokens: 6, completion_tokens: 3 } },
      // (e) a 401: the turn fails at once
      { httpError: { status: 401 } },
    );
    const sdkPort = await freePort();
    const a = await metricsWorker({ TURNFLOW_SDK_METRICS_PORT: String(sdkPort) });
    assert.equal(await turn('plain'), 'done');
    assert.equal(await turn('compute'), 'done');
    assert.equal(await turn('retry'), 'done');

    const crashing = g.postTurn({ message: 'crash' });
    await g.h.llm.gateReached('crash');
    // Everything worker A committed is counted by now; its stream in flight commits nothing before the kill.
    const beforeKill = await scrape(a.url);
    const sdk = await scrape(`http://127.0.0.1:${sdkPort}/metrics`);
    assert.ok(
      [...sdk.keys()].some((name) => name.startsWith('temporal_')),
      `the Temporal SDK's own metrics: ${[...sdk.keys()].slice(0, 5).join(', ')}`,
    );
    await a.child.kill();

    const b = await metricsWorker({ TURNFLOW_METRICS_TENANT_LABEL: 'true' });
    const crashed = await crashing;
    assert.equal((await readEvents(crashed)).at(-1)?.turnEvent?.type, 'done');
    assert.equal(await turn('unauthorized'), 'error');
    const afterwards = await scrape(b.url);
    const scrapes: Scrape[] = [beforeKill, afterwards];

    // What the input says: 4 completed turns and 1 failed; attempts a, b×2, c×2, d×2 (one lost), e.
    const db = g.pool;
    const conversation = g.h.conversationId;
    const turns = await db.query<{ outcome: string; n: number }>(
      `SELECT ${TURN_OUTCOME_SQL} AS outcome, count(*)::int AS n FROM turns t WHERE conversation_id = $1 GROUP BY 1`,
      [conversation],
    );
    const turnCounts = Object.fromEntries(turns.rows.map((r) => [r.outcome, r.n]));
    assert.deepEqual(turnCounts, { completed: 4, failed: 1 });
    assert.deepEqual(sumBy(scrapes, 'turnflow_turns_total', 'status'), turnCounts);

    const attempts = await db.query<{ outcome: string; n: number }>(
      `SELECT outcome, count(*)::int AS n FROM llm_usage WHERE conversation_id = $1 GROUP BY 1`,
      [conversation],
    );
    const attemptCounts = Object.fromEntries(attempts.rows.map((r) => [r.outcome, r.n]));
    assert.deepEqual(attemptCounts, { ok: 5, failed: 2, lost: 1 });
    assert.deepEqual(sumBy(scrapes, 'turnflow_llm_attempts_total', 'outcome'), attemptCounts);

    const tokens = await db.query<{ input: number; output: number }>(
      `SELECT sum(input_tokens)::int AS input, sum(output_tokens)::int AS output FROM llm_usage
       WHERE conversation_id = $1`,
      [conversation],
    );
    assert.deepEqual(tokens.rows[0], { input: 56, output: 13 });
    assert.deepEqual(sumBy(scrapes, 'turnflow_tokens_total', 'type'), {
      input: 56,
      output: 13,
      cached_input: 0,
      reasoning: 0,
    });
    assert.deepEqual(sumBy(scrapes, 'turnflow_tokens_total', 'model'), { [TEST_MODEL]: 69 });

    const tools = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1 AND kind = 'tool'`,
      [conversation],
    );
    assert.equal(tools.rows[0]?.n, 1);
    assert.deepEqual(sumBy(scrapes, 'turnflow_tool_calls_total', 'tool'), { calculate: 1 });
    assert.deepEqual(sumBy(scrapes, 'turnflow_tool_calls_total', 'outcome'), { ok: 1 });

    // The GenAI histograms: one input and one output observation per response with usage (5), one duration per call.
    assert.equal(histogramCount(scrapes, 'gen_ai_client_token_usage'), 10);
    assert.equal(histogramCount(scrapes, 'gen_ai_client_operation_duration_seconds'), 7, 'every call but the lost one');
    assert.deepEqual(sumBy(scrapes, 'turnflow_llm_resets_total', 'model'), { [TEST_MODEL]: 2 });
    assert.equal(histogramCount(scrapes, 'turnflow_turn_duration_seconds'), 5);
    assert.ok(histogramCount(scrapes, 'turnflow_time_to_first_token_seconds') >= 4);
    assert.equal(histogramCount(scrapes, 'turnflow_queue_wait_seconds'), 5, 'every turn went through its queue');

    // The tenant label only where it was asked for.
    assert.deepEqual(sumBy([afterwards], 'turnflow_turns_total', 'tenant'), { acme: 2 });
    assert.deepEqual(sumBy([beforeKill], 'turnflow_turns_total', 'tenant'), { '': 3 });
    assert.ok(afterwards.has('process_cpu_seconds_total'));

    // The gateway: requests by route pattern and status, and no stream left open.
    const gateway = await scrape(gatewayMetrics.url);
    const posts = (gateway.get('turnflow_gateway_requests_total')?.samples ?? []).filter(
      (m) => m.labels['route'] === '/v1/conversations/:id/turns' && m.labels['method'] === 'POST',
    );
    assert.deepEqual(
      posts.map((m) => [m.labels['status'], m.value]),
      [['200', 5]],
    );
    assert.equal(gateway.get('turnflow_gateway_open_streams')?.samples[0]?.value, 0);
  });

  it('parses the exposition format strictly', () => {
    const parsed = parsePrometheusText(
      '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1",y="q\\"uote"} 2\n# TYPE h histogram\n' +
        'h_bucket{le="+Inf"} 3\nh_sum 1.5\nh_count 3\n',
    );
    assert.deepEqual(parsed.get('a_total')?.samples, [{ name: 'a_total', labels: { x: '1', y: 'q"uote' }, value: 2 }]);
    assert.equal(histogramCount([parsed], 'h'), 3);
    assert.throws(() => parsePrometheusText('# TYPE a counter\nb 1\n'), /outside its family/);
    assert.throws(() => parsePrometheusText('# TYPE a counter\na{x=1} 1\n'), /bad labels/);
  });

  it('labels gateway requests by route pattern, errors with their status, unknown paths as one route', async () => {
    const bad = await g.postTurn({ message: 42 });
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
    for (const path of ['/nope/1', '/nope/2']) assert.equal((await g.request(path)).status, 404);
    const noToken = await g.request('/v1/usage', { token: null });
    assert.equal(noToken.status, 401);
    const gateway = await scrape(gatewayMetrics.url);
    const seen = (gateway.get('turnflow_gateway_requests_total')?.samples ?? []).map(
      (m) => `${m.labels['method']} ${m.labels['route']} ${m.labels['status']} ${m.value}`,
    );
    assert.deepEqual(seen.sort(), [
      'GET /v1/usage 401 1',
      'GET unmatched 404 2',
      'POST /v1/conversations/:id/turns 400 1',
    ]);
  });
});
