import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { testEnv, uniqueId, uniqueTaskQueue } from '../support';

const ROOT = path.resolve(__dirname, '..', '..');

describe('worker: a failing workflow task is logged as an error', function () {
  this.timeout(120_000);

  it('forwards the SDK core\'s "Failing workflow task" to the worker log as an error naming the run', async () => {
    const env = await testEnv();
    const workflowId = uniqueId('stuck');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'test', 'fixtures', 'workflows', 'stuck-worker.ts')],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: env.temporal.address,
          TASK_QUEUE: uniqueTaskQueue('stuck'),
          WORKFLOW_ID: workflowId,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const alert = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no alert logged; stderr: ${stderr}`)), 90_000);
        createInterface({ input: child.stdout }).on('line', (line) => {
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (entry['alert'] !== undefined) {
            clearTimeout(timer);
            resolve(entry);
          }
        });
        child.once('exit', (code) => reject(new Error(`the worker exited (${code}): ${stderr}`)));
      });
      assert.equal(alert['alert'], 'workflow_task_failing');
      assert.equal(alert['level'], 50, 'pino error level');
      assert.equal(alert['component'], 'temporal');
      assert.match(String(alert['failure']), /every workflow task of this conversation fails/);
      assert.equal(alert['nondeterminism'], false);
      const { runId } = await env.temporal.client.workflow.getHandle(workflowId).describe();
      assert.equal(alert['runId'], runId);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
