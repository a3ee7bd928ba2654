import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { TEST_MODEL, turnHarness, type TurnHarness } from '../turn/harness';
import { writeWorkflowBundle } from '../../worker/workflow-bundle';

/** What the SDK logs (info) when a worker bundles its workflows itself, at start. */
const BUNDLED_AT_START = /Workflow bundle created/;

describe('a workflow bundle built ahead of the worker', function () {
  this.timeout(240_000);
  let h: TurnHarness;
  let dir: string;
  let child: WorkerProcess | undefined;

  before(async () => {
    h = await turnHarness();
    dir = mkdtempSync(path.join(tmpdir(), 'turnflow-bundle-'));
  });
  afterEach(async () => {
    await child?.kill();
    child = undefined;
  });
  after(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function startWorker(extra: Record<string, string>): WorkerProcess {
    return spawnWorkerProcess({
      // This test decides itself which bundle a worker gets.
      prebuiltBundle: false,
      temporalAddress: h.env.temporal.address,
      databaseUrl: h.env.databaseUrl,
      taskQueue: h.taskQueue,
      llmBaseUrl: h.llm.baseURL,
      model: TEST_MODEL,
      extra: { LOG_LEVEL: 'info', ...extra },
    });
  }

  async function runTurn(answer: string): Promise<void> {
    const asked = h.llm.requests.length;
    h.llm.enqueue({ steps: [{ text: answer }] });
    const turn = await h.start({ message: 'hello' });
    const result = await turn.handle.result();
    assert.equal(result.status, 'completed');
    assert.equal(result.finishReason, 'stop');
    assert.equal(h.llm.requests.length, asked + 1, 'the model was asked once');
  }

  it('runs turns from TURNFLOW_WORKFLOW_BUNDLE without bundling at start (a worker without it bundles)', async () => {
    const file = path.join(dir, 'workflow-bundle.js');
    await writeWorkflowBundle(file);

    child = startWorker({ TURNFLOW_WORKFLOW_BUNDLE: file });
    await child.waitForOutput(/turnflow worker running/, 120_000);
    await runTurn('Answered from the prebuilt bundle.');
    assert.doesNotMatch(child.output(), BUNDLED_AT_START);
    await child.kill();

    // The control: the same worker without the variable bundles its sources at start, and says so.
    child = startWorker({});
    await child.waitForOutput(/turnflow worker running/, 120_000);
    await runTurn('Answered from a bundle made at start.');
    assert.match(child.output(), BUNDLED_AT_START);
  });
});
