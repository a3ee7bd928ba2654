import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { AnswerAssembler } from '../../common';
import { hashToken } from '../../gateway';
import { uniqueId } from '../support';
import { finalMessage, turnHarness, type TurnHarness } from '../turn/harness';
import { readEvents, type SseEvent } from './harness';

const ROOT = path.resolve(__dirname, '../..');

/** Starts `gateway/main.ts` as its own process and resolves with its URL once it logs that it listens. */
async function startGatewayProcess(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'), 'gateway/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'], ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the gateway exited with ${code} before listening`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const record = JSON.parse(line) as { msg?: string; url?: string };
      if (record.msg === 'turnflow gateway listening' && record.url) resolve(record.url);
    });
  });
  return { child, url };
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
      const { first, turnId } = await h.withWorker(async () => {
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
        return { first, turnId };
      });
      const answer = new AnswerAssembler();
      for (const e of first) if (e.turnEvent) answer.apply(e.turnEvent);
      const [final] = await finalMessage(h.env, turnId);
      assert.equal(answer.text, 'served by main');
      assert.equal(final?.content, 'served by main');
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
});
