import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ConfigError, loadWorkerConfig } from '../../worker/config';

const ROOT = path.resolve(__dirname, '..', '..');
const valid = { DATABASE_URL: 'postgres://u@localhost:5432/db', OPENAI_API_KEY: 'sk-test' };

describe('worker configuration', () => {
  it('applies defaults to a minimal environment', () => {
    const config = loadWorkerConfig(valid);
    assert.equal(config.TEMPORAL_ADDRESS, 'localhost:7233');
    assert.equal(config.TEMPORAL_NAMESPACE, 'default');
    assert.equal(config.TURNFLOW_TASK_QUEUE, 'turnflow');
    assert.equal(config.OPENAI_MODEL, 'gpt-4o-mini');
    assert.deepEqual(config.TURNFLOW_MODELS, []);
    // Bounded connections whatever the number of streams; slots for many IO-bound streams.
    assert.equal(config.DATABASE_POOL_MAX, 20);
    assert.equal(config.TURNFLOW_STREAM_CONNECTIONS, 4);
    assert.equal(config.TURNFLOW_MAX_CONCURRENT_ACTIVITIES, 500);
  });

  it("looks at the other workers' leases every 250 ms unless told otherwise, 0 turning it off", () => {
    assert.equal(loadWorkerConfig(valid).TURNFLOW_PEER_POLL_MS, 250);
    assert.equal(loadWorkerConfig({ ...valid, TURNFLOW_PEER_POLL_MS: '0' }).TURNFLOW_PEER_POLL_MS, 0);
    assert.equal(loadWorkerConfig({ ...valid, TURNFLOW_PEER_POLL_MS: '1000' }).TURNFLOW_PEER_POLL_MS, 1000);
    for (const bad of ['10', '-1', '100000', 'often']) {
      assert.throws(() => loadWorkerConfig({ ...valid, TURNFLOW_PEER_POLL_MS: bad }), /TURNFLOW_PEER_POLL_MS/);
    }
  });

  it('names every bad variable and never echoes a secret', () => {
    assert.throws(
      () => loadWorkerConfig({ DATABASE_URL: 'mysql://x', OPENAI_BASE_URL: 'not a url', OPENAI_API_KEY: '' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /DATABASE_URL/);
        assert.match(err.message, /OPENAI_BASE_URL/);
        assert.match(err.message, /OPENAI_API_KEY/);
        return true;
      },
    );
  });

  it('rejects a client certificate without its key', () => {
    assert.throws(
      () => loadWorkerConfig({ ...valid, TEMPORAL_TLS_CLIENT_CERT_PATH: '/tmp/c.pem' }),
      /must be set together/,
    );
  });

  const runWorker = (env: Record<string, string>) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'worker', 'main.ts')], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('takes TURNFLOW_WORKFLOW_BUNDLE naming a file, and refuses one naming none', () => {
    const file = path.join(ROOT, 'package.json');
    assert.equal(loadWorkerConfig({ ...valid, TURNFLOW_WORKFLOW_BUNDLE: file }).TURNFLOW_WORKFLOW_BUNDLE, file);
    assert.equal(loadWorkerConfig(valid).TURNFLOW_WORKFLOW_BUNDLE, undefined);
    assert.throws(
      () => loadWorkerConfig({ ...valid, TURNFLOW_WORKFLOW_BUNDLE: path.join(ROOT, 'no-such-bundle.js') }),
      (err: unknown) => err instanceof ConfigError && /TURNFLOW_WORKFLOW_BUNDLE: names no file/.test(err.message),
    );
  });

  it('refuses to start without an LLM API key, naming the variable', () => {
    const run = runWorker({ DATABASE_URL: valid.DATABASE_URL });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /OPENAI_API_KEY/);
  });

  it('refuses to start with a tool set naming an unknown tool, listing the known ones', () => {
    const run = runWorker({ ...valid, TURNFLOW_TOOLS: 'calculate,teleport' });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /teleport/);
    assert.match(run.stderr, /get_current_time/);
  });
});
