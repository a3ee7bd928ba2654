import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { toolIdempotencyKey } from '../../common';
import { turnHarness, TEST_MODEL, type TurnHarness } from '../turn/harness';
import { fixtureStdio } from './servers';

const ROOT = path.resolve(__dirname, '..', '..');

/** What the fixture server recorded: one line per call it started. */
async function fixtureCalls(log: string): Promise<{ tool: string; key?: string; pid: number }[]> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { tool: string; key?: string; pid: number });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('MCP tools when the worker is SIGKILLed mid-call', function () {
  this.timeout(180_000);
  let h: TurnHarness;
  let dir: string;
  let child: ChildProcess | undefined;

  beforeEach(async () => {
    h = await turnHarness();
    dir = await mkdtemp(path.join(os.tmpdir(), 'turnflow-mcp-crash-'));
  });
  afterEach(async () => {
    child?.kill('SIGKILL');
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('leaves no server process behind, and the call completes once on another attempt under the same key', async () => {
    const log = path.join(dir, 'calls.jsonl');
    const config = path.join(dir, 'mcp.json');
    await writeFile(config, JSON.stringify({ mcpServers: { fixture: fixtureStdio(log) } }));
    h.llm.enqueue(
      {
        steps: [{ toolCalls: [{ id: 'call_s', name: 'fixture__slow_echo', arguments: { text: 'once', ms: 2_000 } }] }],
      },
      { steps: [{ text: 'done' }] },
    );
    const turn = await h.start({ message: 'echo slowly', tools: ['fixture__slow_echo'] });
    child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'worker', 'main.ts')], {
      cwd: ROOT,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: h.env.temporal.address,
        TURNFLOW_TASK_QUEUE: h.taskQueue,
        DATABASE_URL: h.env.databaseUrl,
        OPENAI_BASE_URL: h.llm.baseURL,
        OPENAI_API_KEY: 'test-key',
        OPENAI_MODEL: TEST_MODEL,
        TURNFLOW_MCP_CONFIG: config,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));

    const [first] = await until('the call to reach the server', async () => {
      if (child?.exitCode !== null) throw new Error(`the worker exited: ${stderr}`);
      const calls = await fixtureCalls(log);
      return calls.length > 0 ? calls : undefined;
    });
    child.kill('SIGKILL');
    await exited;
    // The guard notices its worker is gone within 200 ms and ends the server's process group.
    await until('the server process to end with its worker', () => (alive(first!.pid) ? undefined : true), 10_000);

    const result = await h.withWorker(() => turn.handle.result(), { mcpServers: { fixture: fixtureStdio(log) } });
    assert.equal(result.status, 'completed');
    const calls = (await fixtureCalls(log)).filter((c) => c.tool === 'slow_echo');
    const key = toolIdempotencyKey({ turnId: turn.turnId, hop: 0, toolCallId: 'call_s' });
    assert.equal(calls.length, 2, 'the killed attempt and the one that completed');
    assert.deepEqual(
      calls.map((c) => c.key),
      [key, key],
    );
    const tools = (h.llm.requests[1]!.body.messages as { role: string; content?: unknown }[]).filter(
      (m) => m.role === 'tool',
    );
    assert.deepEqual(
      tools.map((m) => m.content),
      ['echo: once'],
    );
    const stored = await h.env.pool.query(`SELECT 1 FROM messages WHERE turn_id = $1 AND kind = 'tool'`, [turn.turnId]);
    assert.equal(stored.rowCount, 1, 'one stored result');
  });
});
