import assert from 'node:assert/strict';
import { Worker } from '@temporalio/worker';
import type { Usage } from '../../common';
import { gatewayHarness, readEvents, TOKENS, type GatewayHarness } from '../gateway/harness';
import { spawnWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { TEST_MODEL, workflowBundle } from '../turn/harness';

/** A usage chunk written as its own SSE event (some providers send usage before the stream ends). */
function usageEvent(prompt: number, completion: number): string {
  const chunk = {
    id: 'chatcmpl-usage',
    object: 'chat.completion.chunk',
    created: 1,
    model: TEST_MODEL,
    choices: [],
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  };
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

interface UsageRow {
  hop: number;
  attempt: number;
  outcome: string;
  streamed: boolean | null;
  usage_reported: boolean;
  input_tokens: string;
  output_tokens: string;
  cached_input_tokens: string;
  reasoning_tokens: string;
  tenant_id: string;
  model: string;
}

describe('usage, exactly once', function () {
  this.timeout(180_000);
  let g: GatewayHarness;
  let child: WorkerProcess | undefined;
  /** Rows recorded before a test are not its own: reports start here. */
  let since: Date;

  beforeEach(async () => {
    // A just-spawned worker bundles its workflows before it polls (seconds on a loaded machine): starts wait for it.
    g = await gatewayHarness({ startTimeoutMs: 60_000 });
    since = (await g.pool.query<{ now: Date }>('SELECT now()')).rows[0]!.now;
  });
  afterEach(async () => {
    await child?.kill();
    child = undefined;
    await g.close();
  });

  async function rows(turnId: string): Promise<UsageRow[]> {
    const { rows } = await g.pool.query<UsageRow>(
      `SELECT hop, attempt, outcome, streamed, usage_reported, input_tokens, output_tokens, cached_input_tokens,
              reasoning_tokens, tenant_id, model
       FROM llm_usage WHERE turn_id = $1 ORDER BY hop, attempt`,
      [turnId],
    );
    return rows;
  }

  /** What a row says, in one line per attempt: `hop/attempt outcome streamed reported in out cached reasoning`. */
  const brief = (r: UsageRow) =>
    `${r.hop}/${r.attempt} ${r.outcome} ${String(r.streamed)} ${String(r.usage_reported)} ` +
    `${r.input_tokens} ${r.output_tokens} ${r.cached_input_tokens} ${r.reasoning_tokens}`;

  async function usageQuery(query: string, token: string = TOKENS.acme) {
    const response = await g.request(`/v1/usage?${query}`, { token });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  function range(): string {
    const to = new Date(Date.now() + 60_000);
    return `from=${encodeURIComponent(since.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
  }

  /** Runs a turn through the gateway and returns its id and the usage its `done` event carried. */
  async function runTurn(message: string): Promise<{ turnId: string; done: Usage | null | undefined }> {
    const response = await g.postTurn({ message });
    assert.equal(response.status, 200);
    const events = await readEvents(response);
    const done = events.map((e) => e.turnEvent).find((e) => e?.type === 'done');
    assert.ok(done?.type === 'done', `the turn ended with done: ${JSON.stringify(events.at(-1)?.data)}`);
    return { turnId: done.turnId, done: done.usage };
  }

  /** Replays the turn's history; replay runs no activity, so its usage rows stay exactly as they are. */
  async function replayChangesNothing(turnId: string): Promise<void> {
    const before = (await rows(turnId)).map(brief);
    const history = await g.h.client.workflow.getHandle(turnId).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, turnId);
    assert.deepEqual((await rows(turnId)).map(brief), before);
  }

  it('records a plain turn once and reports it in done, result() and GET /v1/usage, to its tenant only', async () => {
    g.h.llm.enqueue({
      steps: [{ text: 'A plain answer.' }],
      usage: {
        prompt_tokens: 20,
        completion_tokens: 12,
        prompt_tokens_details: { cached_tokens: 8 },
        completion_tokens_details: { reasoning_tokens: 4 },
      },
    });
    const { turnId, done } = await g.h.withWorker(() => runTurn('plain'));

    assert.deepEqual((await rows(turnId)).map(brief), ['0/1 ok true true 20 12 8 4']);
    const expected = {
      promptTokens: 20,
      completionTokens: 12,
      totalTokens: 32,
      cachedInputTokens: 8,
      reasoningTokens: 4,
      llmAttempts: 1,
      responsesWithoutUsage: 0,
    };
    assert.deepEqual(done, expected);
    assert.deepEqual((await g.turns.result(turnId)).usage, expected);

    const { status, body } = await usageQuery(range());
    assert.equal(status, 200);
    assert.deepEqual(
      { ...body, from: undefined, to: undefined },
      {
        from: undefined,
        to: undefined,
        inputTokens: 20,
        outputTokens: 12,
        cachedInputTokens: 8,
        reasoningTokens: 4,
        llmAttempts: 1,
        responsesWithoutUsage: 0,
        turns: { completed: 1 },
        toolCalls: 0,
      },
    );
    assert.equal(body['from'], since.toISOString());
    const other = await usageQuery(range(), TOKENS.globex);
    assert.equal(other.body['inputTokens'], 0, 'another tenant sees none of it');
    assert.deepEqual(other.body['turns'], {});
    const byModel = await usageQuery(`${range()}&groupBy=model`);
    assert.equal(byModel.body['groupBy'], 'model');
    assert.deepEqual(
      (byModel.body['groups'] as Record<string, unknown>[]).map((grp) => [grp['key'], grp['inputTokens']]),
      [[TEST_MODEL, 20]],
    );
    await replayChangesNothing(turnId);
  });

  it('records each hop of a tool turn and counts its tool call', async () => {
    g.h.llm.enqueue(
      {
        steps: [{ toolCalls: [{ id: 'c1', name: 'calculate', arguments: '{"expression":"6*7"}' }] }],
        usage: { prompt_tokens: 10, completion_tokens: 5 },
      },
      { steps: [{ text: 'Forty-two.' }], usage: { prompt_tokens: 30, completion_tokens: 7 } },
    );
    const { turnId, done } = await g.h.withWorker(() => runTurn('six times seven'));

    assert.deepEqual((await rows(turnId)).map(brief), ['0/1 ok true true 10 5 0 0', '1/1 ok true true 30 7 0 0']);
    assert.deepEqual(done, {
      promptTokens: 40,
      completionTokens: 12,
      totalTokens: 52,
      cachedInputTokens: 0,
      reasoningTokens: 0,
      llmAttempts: 2,
      responsesWithoutUsage: 0,
    });
    const byDay = await usageQuery(`${range()}&groupBy=day`);
    const groups = byDay.body['groups'] as Record<string, unknown>[];
    assert.equal(groups.length, 1);
    assert.equal(groups[0]!['key'], since.toISOString().slice(0, 10));
    assert.equal(groups[0]!['toolCalls'], 1);
    assert.equal(groups[0]!['llmAttempts'], 2);
    const byConversation = await usageQuery(`${range()}&groupBy=conversation`);
    assert.deepEqual(
      (byConversation.body['groups'] as Record<string, unknown>[]).map((grp) => [grp['key'], grp['outputTokens']]),
      [[g.h.conversationId, 12]],
    );
    await replayChangesNothing(turnId);
  });

  it('keeps the tokens of attempts that streamed and were retried, and records the ones without usage', async () => {
    g.h.llm.enqueue(
      { httpError: { status: 500 } },
      { steps: [{ text: 'Cut without usage' }], dropAfterChunks: 1 },
      { steps: [{ text: 'Cut after usage', chunkSize: 100 }, { raw: usageEvent(5, 3) }], dropAfterChunks: 2 },
      { steps: [{ text: 'The answer.' }], usage: { prompt_tokens: 9, completion_tokens: 4 } },
    );
    const { turnId, done } = await g.h.withWorker(() => runTurn('retry me'));

    assert.deepEqual((await rows(turnId)).map(brief), [
      '0/1 failed false false 0 0 0 0',
      '0/2 failed true false 0 0 0 0',
      '0/3 failed true true 5 3 0 0',
      '0/4 ok true true 9 4 0 0',
    ]);
    assert.deepEqual(done, {
      promptTokens: 14,
      completionTokens: 7,
      totalTokens: 21,
      cachedInputTokens: 0,
      reasoningTokens: 0,
      llmAttempts: 4,
      responsesWithoutUsage: 1,
    });
    const { body } = await usageQuery(range());
    assert.equal(body['inputTokens'], 14);
    assert.equal(body['llmAttempts'], 4);
    assert.equal(body['responsesWithoutUsage'], 1);
    await replayChangesNothing(turnId);
  });

  function startChildWorker(): WorkerProcess {
    return spawnWorkerProcess({
      temporalAddress: g.h.env.temporal.address,
      databaseUrl: g.h.env.databaseUrl,
      taskQueue: g.h.taskQueue,
      llmBaseUrl: g.h.llm.baseURL,
      model: TEST_MODEL,
      extra: { LOG_LEVEL: 'warn' },
    });
  }

  it('records an attempt whose worker was SIGKILLed mid-stream as lost, once', async () => {
    g.h.llm.enqueue(
      { steps: [{ text: 'Half of an answer' }, { waitFor: 'crash' }, { text: ' never sent.' }] },
      { steps: [{ text: 'The whole answer.' }], usage: { prompt_tokens: 6, completion_tokens: 3 } },
    );
    // A start is accepted by the conversation's workflow, which needs a worker.
    child = startChildWorker();
    const response = await g.postTurn({ message: 'survive a crash' });
    const reading = readEvents(response);
    await g.h.llm.gateReached('crash');
    await child.kill();
    const events = await g.h.withWorker(() => reading);
    const done = events.map((e) => e.turnEvent).find((e) => e?.type === 'done');
    assert.ok(done?.type === 'done');

    assert.deepEqual((await rows(done.turnId)).map(brief), ['0/1 lost null false 0 0 0 0', '0/2 ok true true 6 3 0 0']);
    assert.equal(done.usage?.llmAttempts, 2);
    assert.equal(done.usage?.responsesWithoutUsage, 1);
    assert.equal(done.usage?.promptTokens, 6);
    await replayChangesNothing(done.turnId);
  });

  it('counts an attempt once when its worker dies after recording its usage, and its retry once more', async () => {
    g.h.llm.enqueue(
      {
        steps: [{ waitFor: 'streaming' }, { text: 'First answer.' }],
        usage: { prompt_tokens: 11, completion_tokens: 2 },
      },
      { steps: [{ text: 'Second answer.' }], usage: { prompt_tokens: 11, completion_tokens: 3 } },
    );
    child = startChildWorker();
    const response = await g.postTurn({ message: 'die after usage' });
    const reading = readEvents(response);
    await g.h.llm.gateReached('streaming');
    // The hop message cannot be stored while this lock is held: the attempt records its usage, then waits.
    const lock = await g.pool.connect();
    try {
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE');
      g.h.llm.release('streaming');
      const turnId = decodeURIComponent(response.headers.get('turn-id') ?? '');
      for (let i = 0; ; i++) {
        const { rowCount } = await g.pool.query(`SELECT 1 FROM llm_usage WHERE turn_id = $1`, [turnId]);
        if (rowCount) break;
        assert.ok(i < 300, 'the attempt recorded its usage');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await child.kill();
    } finally {
      await lock.query('ROLLBACK');
      lock.release();
    }
    const events = await g.h.withWorker(() => reading);
    const done = events.map((e) => e.turnEvent).find((e) => e?.type === 'done');
    assert.ok(done?.type === 'done');

    assert.deepEqual((await rows(done.turnId)).map(brief), ['0/1 ok true true 11 2 0 0', '0/2 ok true true 11 3 0 0']);
    assert.deepEqual(
      [done.usage?.promptTokens, done.usage?.completionTokens, done.usage?.llmAttempts],
      [22, 5, 2],
      'both responses were billed, each counted once',
    );
    await replayChangesNothing(done.turnId);
  });

  it('answers 400 for a missing, malformed, reversed, unbounded or unknown query', async () => {
    const to = new Date().toISOString();
    const cases = [
      '',
      `from=yesterday&to=${to}`,
      `from=${to}&to=${encodeURIComponent('2020-01-01T00:00:00Z')}`,
      `from=2020-01-01T00:00:00Z&to=${encodeURIComponent(to)}`,
      `from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&groupBy=tenant`,
      `from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&tenant=globex`,
    ];
    for (const query of cases) {
      const { status, body } = await usageQuery(query);
      assert.equal(status, 400, query);
      assert.equal((body['error'] as { type: string }).type, 'bad_request', query);
    }
    const anonymous = await g.request(`/v1/usage?${range()}`, { token: null });
    assert.equal(anonymous.status, 401);
  });
});
