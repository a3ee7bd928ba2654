import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { toolIdempotencyKey } from '../../common';
import { turnHarness, TEST_MODEL, type TurnHarness } from '../turn/harness';
import { spawnWorkerProcess, type WorkerProcess } from '../support';
import { fixtureCalls, fixtureStdio, until } from './servers';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('MCP tools when the worker is SIGKILLed mid-call', function () {
  this.timeout(180_000);
  let h: TurnHarness;
  let dir: string;
  let worker: WorkerProcess | undefined;

  beforeEach(async () => {
    h = await turnHarness();
    dir = await mkdtemp(path.join(os.tmpdir(), 'turnflow-mcp-crash-'));
  });
  afterEach(async () => {
    await worker?.kill();
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
    worker = spawnWorkerProcess({
      temporalAddress: h.env.temporal.address,
      databaseUrl: h.env.databaseUrl,
      taskQueue: h.taskQueue,
      llmBaseUrl: h.llm.baseURL,
      model: TEST_MODEL,
      extra: { TURNFLOW_MCP_CONFIG: config, LOG_LEVEL: 'warn' },
    });
    const [first] = await until(
      'the call to reach the server',
      async () => {
        if (!worker?.alive()) throw new Error(`the worker exited: ${worker?.output()}`);
        const calls = await fixtureCalls(log);
        return calls.length > 0 ? calls : undefined;
      },
      60_000,
    ); // the worker bundles its workflows first
    await worker.kill();
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
