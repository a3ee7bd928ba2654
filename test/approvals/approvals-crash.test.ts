import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decideApproval } from '../../client';
import { spawnWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { turnHarness, TEST_MODEL, type TurnHarness } from '../turn/harness';
import { requested } from './approval-tools';
import { readRuns } from './counting-worker';

describe('tool approvals under a worker crash', function () {
  this.timeout(300_000);
  let h: TurnHarness;
  let runsFile: string;
  const workers: WorkerProcess[] = [];

  beforeEach(async () => {
    h = await turnHarness();
    runsFile = path.join(mkdtempSync(path.join(tmpdir(), 'turnflow-approvals-')), 'runs.jsonl');
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.kill();
    await h.close();
  });

  /** The real worker process (with the counting `transfer` tool), killable without warning. */
  async function startWorker(transferMs = 0): Promise<WorkerProcess> {
    const worker = spawnWorkerProcess({
      script: path.join(__dirname, 'counting-worker.ts'),
      temporalAddress: h.env.temporal.address,
      databaseUrl: h.env.databaseUrl,
      taskQueue: h.taskQueue,
      llmBaseUrl: h.llm.baseURL,
      model: TEST_MODEL,
      extra: { RUNS_FILE: runsFile, TRANSFER_MS: String(transferMs) },
    });
    workers.push(worker);
    await worker.waitForOutput(/worker (started|ready|running)/i, 120_000);
    return worker;
  }

  async function sigkill(worker: WorkerProcess): Promise<void> {
    worker.child.kill('SIGKILL');
    await worker.kill();
  }

  const TRANSFER = { id: 'call_transfer', name: 'transfer', arguments: '{"amount":70}' };

  it('keeps waiting through a SIGKILLed worker; the call runs once, after the approval, on the next worker', async () => {
    h.llm.enqueue({ steps: [{ toolCalls: [TRANSFER] }] }, { steps: [{ text: 'Transferred.' }] });
    const turn = await h.start({ message: 'transfer 70' });
    const first = await startWorker();
    const [req] = await requested(h.env, turn.turnId, 1, 120_000);
    await sigkill(first);
    assert.deepEqual(readRuns(runsFile), [], 'nothing ran before the approval');

    await startWorker();
    // The new worker rebuilds the waiting turn from its history: still nothing runs.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    assert.deepEqual(readRuns(runsFile), []);
    const decidedAt = Date.now();
    await decideApproval(
      { temporal: h.client, pool: h.env.pool },
      { turnId: turn.turnId, approvalId: req!.approvalId },
      { approved: true },
    );
    const result = await turn.handle.result();
    assert.equal(result.status, 'completed');
    const runs = readRuns(runsFile);
    assert.deepEqual(
      runs.map((r) => [r.kind, r.amount]),
      [
        ['attempt', 70],
        ['effect', 70],
      ],
    );
    assert.ok(
      runs.every((r) => r.at >= decidedAt),
      'every run came after the approval',
    );
  });

  it('SIGKILLed right after the approval: the call runs after it, its effect once, under one idempotency key', async () => {
    h.llm.enqueue({ steps: [{ toolCalls: [TRANSFER] }] }, { steps: [{ text: 'Transferred.' }] });
    const turn = await h.start({ message: 'transfer 70' });
    // The transfer takes a while, so the kill lands while it runs (or before it started).
    const first = await startWorker(1_500);
    const [req] = await requested(h.env, turn.turnId, 1, 120_000);
    assert.deepEqual(readRuns(runsFile), []);
    const decidedAt = Date.now();
    await decideApproval(
      { temporal: h.client, pool: h.env.pool },
      { turnId: turn.turnId, approvalId: req!.approvalId },
      { approved: true },
    );
    await sigkill(first);
    await startWorker(1_500);
    const result = await turn.handle.result();
    assert.equal(result.status, 'completed');
    const runs = readRuns(runsFile);
    assert.ok(runs.length >= 2, JSON.stringify(runs));
    assert.ok(
      runs.every((r) => r.at >= decidedAt),
      'nothing ran before the approval',
    );
    assert.equal(new Set(runs.map((r) => r.key)).size, 1, 'every attempt under the one idempotency key');
    assert.equal(runs.filter((r) => r.kind === 'effect').length, 1, 'the effect happened once');
    const results = await h.env.pool.query<{ content: string }>(
      `SELECT content FROM messages WHERE turn_id = $1 AND kind = 'tool'`,
      [turn.turnId],
    );
    assert.deepEqual(
      results.rows.map((r) => JSON.parse(r.content) as unknown),
      [{ transferred: 70 }],
    );
    assert.equal((h.llm.requests[1]!.body.messages as { role: string }[]).filter((m) => m.role === 'tool').length, 1);
  });
});
