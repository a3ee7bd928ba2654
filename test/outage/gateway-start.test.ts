import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../support';
import { outageStack, type OutageStack } from './stack';

const ROOT = path.resolve(__dirname, '..', '..');

describe('gateway process and its dependencies', function () {
  this.timeout(120_000);
  let s: OutageStack;

  beforeEach(async () => {
    s = await outageStack();
  });
  afterEach(async () => {
    await s.close();
  });

  it('starts a gateway while Postgres and Temporal are down, waits for both, then serves requests', async () => {
    await Promise.all([s.pg.stop(), s.temporal.stop()]);
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'gateway', 'main.ts')], {
      cwd: ROOT,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: s.temporal.address,
        DATABASE_URL: s.pg.url,
        GATEWAY_PORT: String(port),
        TURNFLOW_DEV: '1',
        TURNFLOW_TASK_QUEUE: s.taskQueue,
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const alive = () => child.exitCode === null && child.signalCode === null;
    const until = async (pattern: RegExp) => {
      for (let i = 0; i < 240 && !pattern.test(output); i += 1) {
        assert.ok(alive(), `the gateway exited before ${pattern}:\n${output}`);
        await sleep(250);
      }
      assert.match(output, pattern);
    };
    try {
      await until(/waiting for Postgres/);
      await sleep(3_000);
      assert.ok(alive(), `the gateway exited while Postgres was down:\n${output}`);
      await s.pg.start();
      await until(/waiting for Temporal/);
      await sleep(3_000);
      assert.ok(alive(), `the gateway exited while Temporal was down:\n${output}`);
      await s.temporal.start();
      await until(/turnflow gateway listening/);
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(response.status, 200, await response.text());
    } finally {
      child.kill('SIGKILL');
    }
  });
});
