import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { AnswerAssembler } from '../../common';
import { hashToken } from '../../gateway';
import { uniqueId } from '../support';
import { testWorkflowBundleFile } from '../../dev/test-bundle';
import { finalMessage, TEST_MODEL, turnHarness, type TurnHarness } from '../turn/harness';
import { answerByMessage, answerTo } from '../turn/conversation-harness';
import { readEvents, type SseEvent } from './harness';

const ROOT = path.resolve(__dirname, '../..');

/** A log record of the gateway process (pino's JSON lines). */
type LogRecord = { msg?: string; url?: string } & Record<string, unknown>;

/**
 * Starts `gateway/main.ts` as its own process and resolves with its URL once it logs that it listens; `records` keeps
 * its log lines.
 */
async function startGatewayProcess(
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; url: string; records: LogRecord[] }> {
  // tsx as a loader, not its CLI (which runs the gateway as a child of its own): the pid is the gateway's, so the
  // SIGKILL of a failed test reaches it instead of leaving it running.
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'], ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const records: LogRecord[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the gateway exited with ${code} before listening`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const record = JSON.parse(line) as LogRecord;
      records.push(record);
      if (record.msg === 'turnflow gateway listening' && record.url) resolve(record.url);
    });
  });
  return { child, url, records };
}

/** The environment of a gateway process that hosts a worker (`GATEWAY_WORKER=true`) on `h`'s task queue. */
function hostingEnv(h: TurnHarness): NodeJS.ProcessEnv {
  const bundle = testWorkflowBundleFile();
  return {
    DATABASE_URL: h.env.databaseUrl,
    TEMPORAL_ADDRESS: h.env.temporal.address,
    TURNFLOW_TASK_QUEUE: h.taskQueue,
    TURNFLOW_API_TOKENS: `acme:${hashToken('main-token')}`,
    GATEWAY_PORT: '0',
    LOG_LEVEL: 'info',
    GATEWAY_WORKER: 'true',
    // The hosted worker reads the standalone worker's variables.
    OPENAI_BASE_URL: h.llm.baseURL,
    OPENAI_API_KEY: 'test-key',
    OPENAI_MODEL: TEST_MODEL,
    ...(bundle ? { TURNFLOW_WORKFLOW_BUNDLE: bundle } : {}),
  };
}

describe('gateway: main', function () {
  this.timeout(120_000);
  let h: TurnHarness;

  beforeEach(async () => {
    h = await turnHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('serves turns from its own process and shuts down cleanly on SIGTERM', async () => {
    const { child, url } = await startGatewayProcess({
      DATABASE_URL: h.env.databaseUrl,
      TEMPORAL_ADDRESS: h.env.temporal.address,
      TURNFLOW_TASK_QUEUE: h.taskQueue,
      TURNFLOW_API_TOKENS: `acme:${hashToken('main-token')}`,
      GATEWAY_PORT: '0',
      GATEWAY_KEEPALIVE_MS: '200',
      LOG_LEVEL: 'info',
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const health = await fetch(`${url}/healthz`);
      assert.deepEqual(await health.json(), { ok: true, checks: { postgres: 'ok', temporal: 'ok' } });

      h.llm.enqueue({ steps: [{ text: 'served by main' }, { waitFor: 'hold' }] });
      const { first, turnId, firstTaskBy, standalone } = await h.withWorker(async (worker) => {
        const response = await fetch(`${url}/v1/conversations/${h.conversationId}/turns`, {
          method: 'POST',
          headers: { authorization: 'Bearer main-token', 'content-type': 'application/json' },
          body: JSON.stringify({ requestId: uniqueId('req'), message: 'hi' }),
        });
        assert.equal(response.status, 200);
        const textOf = (all: SseEvent[]) => all.map((e) => (e.event === 'text' ? String(e.data['text']) : '')).join('');
        const first = await readEvents(response, { until: (_e, all) => textOf(all) === 'served by main' });
        await h.llm.gateReached('hold');
        const turnId = first[0]!.turnEvent!.turnId;
        // An open event stream (the turn is still running) must not keep the process from stopping.
        const open = await fetch(`${url}/v1/turns/${encodeURIComponent(turnId)}/events`, {
          headers: { authorization: 'Bearer main-token', 'last-event-id': first.at(-1)!.id! },
        });
        assert.equal(open.status, 200);
        child.kill('SIGTERM');
        assert.equal(await exited, 0);
        // The stream was cut by the shutdown, not left hanging.
        await readEvents(open).catch(() => []);
        h.llm.release('hold');
        await h.client.workflow.getHandle(turnId).result();
        const history = (await h.client.workflow.getHandle(turnId).fetchHistory()).events ?? [];
        const firstTaskBy = history.find((e) => e.workflowTaskStartedEventAttributes)
          ?.workflowTaskStartedEventAttributes?.identity;
        return { first, turnId, firstTaskBy, standalone: worker.options.identity };
      });
      // Without GATEWAY_WORKER the gateway runs no worker and asks for no eager start: a worker polled the task.
      assert.equal(firstTaskBy, standalone, 'the standalone worker polled the turn’s first workflow task');
      const answer = new AnswerAssembler();
      for (const e of first) if (e.turnEvent) answer.apply(e.turnEvent);
      const [final] = await finalMessage(h.env, turnId);
      assert.equal(answer.text, 'served by main');
      assert.equal(final?.content, 'served by main');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('GATEWAY_WORKER=true: its own worker runs its direct turns’ first workflow task, started eagerly, beside a standalone worker, and SIGTERM stops both', async () => {
    answerByMessage(h);
    const { child, url, records } = await startGatewayProcess(hostingEnv(h));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const hosted = records.find((r) => r.msg === 'turnflow worker running')?.['identity'];
      assert.ok(typeof hosted === 'string', 'the gateway logged its worker’s identity before it listened');
      // A standalone worker polls the same task queue meanwhile: only an eager start hands every first task to the
      // gateway's own worker.
      const { turns, standalone } = await h.withWorker(async (worker) => {
        const turns: { message: string; turnId: string; text: string; firstTaskBy: unknown }[] = [];
        for (const message of ['m1', 'm2', 'm3', 'm4']) {
          const response = await fetch(`${url}/v1/conversations/${uniqueId('conv')}/turns`, {
            method: 'POST',
            headers: { authorization: 'Bearer main-token', 'content-type': 'application/json' },
            body: JSON.stringify({ requestId: uniqueId('req'), message }),
          });
          assert.equal(response.status, 200);
          const events = await readEvents(response, { until: (e) => e.event === 'done' || e.event === 'error' });
          assert.equal(events.at(-1)?.event, 'done', `turn of ${message} ends with done`);
          const turnId = events[0]!.turnEvent!.turnId;
          const text = events.flatMap((e) => (e.turnEvent?.type === 'text' ? [e.turnEvent.text] : [])).join('');
          const history = (await h.client.workflow.getHandle(turnId).fetchHistory()).events ?? [];
          const firstTask = history.find((e) => e.workflowTaskStartedEventAttributes);
          turns.push({ message, turnId, text, firstTaskBy: firstTask?.workflowTaskStartedEventAttributes?.identity });
        }
        return { turns, standalone: worker.options.identity };
      });
      for (const turn of turns) {
        assert.equal(turn.text, answerTo(turn.message), `the turn of ${turn.message} streamed its answer`);
        assert.equal((await finalMessage(h.env, turn.turnId))[0]?.content, answerTo(turn.message));
      }
      // The server records a task it hands back in the start's answer (eager start) under the starting client's
      // identity, the SDK's `pid@host` of the gateway process; a task a worker polled carries that worker's identity
      // (the gateway's worker: `pid@host:random`). The answer goes to the worker on the client's connection.
      const gatewayClient = `${String(records[0]?.['pid'])}@${hostname()}`;
      assert.notEqual(gatewayClient, hosted);
      assert.deepEqual(
        turns.map((t) => t.firstTaskBy),
        turns.map(() => gatewayClient),
        `every first workflow task was started eagerly in the gateway (${gatewayClient}); none was polled by its ` +
          `worker (${hosted}) or the standalone one (${standalone})`,
      );
      child.kill('SIGTERM');
      assert.equal(await exited, 0, 'the gateway and its worker stopped cleanly');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('GATEWAY_WORKER=true: SIGTERM while its worker streams a turn stops the process promptly; the turn ends on another worker', async () => {
    h.llm.enqueue({ steps: [{ text: 'partial' }, { waitFor: 'hold' }, { text: ' never sent' }] }, [{ text: 'whole' }]);
    const { child, url, records } = await startGatewayProcess(hostingEnv(h));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const hosted = records.find((r) => r.msg === 'turnflow worker running')?.['identity'];
      assert.ok(typeof hosted === 'string', 'the gateway logged its worker’s identity before it listened');
      await h.withWorker(async (standalone) => {
        const response = await fetch(`${url}/v1/conversations/${h.conversationId}/turns`, {
          method: 'POST',
          headers: { authorization: 'Bearer main-token', 'content-type': 'application/json' },
          body: JSON.stringify({ requestId: uniqueId('req'), message: 'hi' }),
        });
        assert.equal(response.status, 200);
        const first = await readEvents(response, { until: (e) => e.event === 'text' });
        await h.llm.gateReached('hold');
        const handle = h.client.workflow.getHandle(first[0]!.turnEvent!.turnId);
        const streaming = (await handle.describe()).raw.pendingActivities ?? [];
        assert.deepEqual(
          streaming.map((a) => a.lastWorkerIdentity),
          [hosted],
          'the gateway’s worker streams the turn (eager activity dispatch follows the eager first task)',
        );

        const stoppingAt = Date.now();
        child.kill('SIGTERM');
        assert.equal(await exited, 0, 'the gateway and its worker stopped cleanly');
        const stopMs = Date.now() - stoppingAt;
        // Far below the worker's graceful-shutdown bound (30 s): the streaming activity is cancelled at once.
        assert.ok(stopMs < 10_000, `the gateway stopped in ${stopMs} ms with a turn streaming`);
        h.llm.release('hold');

        await handle.result();
        const [final] = await finalMessage(h.env, handle.workflowId);
        assert.equal(final?.content, 'whole', 'the retried attempt, on the standalone worker, gave the answer');
        const events = (await handle.fetchHistory()).events ?? [];
        const attempts = events.flatMap((e) => (e.activityTaskStartedEventAttributes ? [e] : []));
        assert.equal(
          attempts.at(-1)?.activityTaskStartedEventAttributes?.identity,
          standalone.options.identity,
          'the standalone worker ran the LLM activity’s last attempt',
        );
      });
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses to start without API tokens outside the dev stack', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'), 'gateway/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'], DATABASE_URL: h.env.databaseUrl },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(stderr, /TURNFLOW_API_TOKENS is not set/);
  });

  it('GATEWAY_WORKER=true: refuses to start without the worker’s variables, naming them', async () => {
    const { OPENAI_API_KEY: _key, ...env } = hostingEnv(h);
    const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'], ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(stderr, /the worker cannot start; fix these environment variables:\n\s+OPENAI_API_KEY/);
  });
});
