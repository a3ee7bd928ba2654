import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { exec, isRoot, resolveTemporalCli } from '../../dev';
import { freePort, testEnv, uniqueTaskQueue } from '../support';

const ROOT = path.resolve(__dirname, '..', '..');
// What a fresh clone holds, minus local state: the copy gets a Postgres cluster of its own in its `.data/`.
const COPIED = ['package.json', 'tsconfig.json', 'activities', 'client', 'common', 'db', 'dev', 'gateway'];
const COPIED_TOO = ['codec', 'config', 'metrics', 'scripted-llm', 'worker', 'workflows', 'test/fixtures/llm-streams'];

/** A copy of the project in a temporary folder, whose `npm start` runs its own cluster on a free port. */
async function projectCopy() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'turnflow-start-'));
  // As root the cluster runs as `postgres`, who must reach `.data/` (else dev/paths.ts moves it elsewhere).
  await chmod(dir, 0o755);
  for (const entry of [...COPIED, ...COPIED_TOO]) {
    await cp(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  }
  await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  // The tools the bootstrap installs (the MCP time server's virtualenv, a pip install each time otherwise): the run's.
  await symlink(path.join(ROOT, '.tools'), path.join(dir, '.tools'));
  const env = await testEnv();
  const pgPort = await freePort();
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    TURNFLOW_PG_PORT: String(pgPort),
    // The copy reuses the test run's Temporal server and CLI rather than starting or installing its own.
    TEMPORAL_ADDRESS: env.temporal.address,
    TEMPORAL_CLI_PATH: await resolveTemporalCli(),
    TURNFLOW_TASK_QUEUE: uniqueTaskQueue('start'),
    GATEWAY_PORT: String(await freePort()),
    SCRIPTED_LLM_PORT: String(await freePort()),
    TURNFLOW_METRICS_PORT: String(await freePort()),
    TURNFLOW_SDK_METRICS_PORT: String(await freePort()),
    GATEWAY_METRICS_PORT: String(await freePort()),
    TURNFLOW_FIXTURES_DIR: path.join(dir, 'test/fixtures/llm-streams'),
  };
  // Empty counts as unset for the bootstrap and dev/start.ts (and survives exec's merge with process.env).
  childEnv['DATABASE_URL'] = '';
  childEnv['OPENAI_API_KEY'] = '';
  const pidFile = path.join(dir, '.data', 'pg', 'postmaster.pid');
  return {
    dir,
    clusterRunning: () => existsSync(pidFile),
    run: (args: string[]) => exec('npm', args, { cwd: dir, env: childEnv }),
    /** `npm start`, in a process group of its own as a terminal would run it. */
    start: () =>
      spawn('npm', ['start'], { cwd: dir, env: childEnv, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }),
    async destroy() {
      const pgCtl = await exec('sh', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1']);
      const bin = path.join(pgCtl.stdout.trim(), 'pg_ctl');
      const args = ['stop', '-m', 'immediate', '-D', path.join(dir, '.data', 'pg')];
      if (existsSync(pidFile))
        await (isRoot() ? exec('runuser', ['-u', 'postgres', '--', bin, ...args]) : exec(bin, args));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Waits for `npm start` to report the stack up, then sends Ctrl-C (SIGINT to its process group) and waits for it to end. */
async function upThenCtrlC(child: ChildProcess, whileUp: () => void = () => undefined): Promise<string> {
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('[start] up:')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`npm start exited (${code}) before it was up:\n${output}`)));
  });
  whileUp();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(-child.pid!, 'SIGINT');
  await exited;
  return output;
}

describe('npm start and Ctrl-C', function () {
  this.timeout(180_000);
  let copy: Awaited<ReturnType<typeof projectCopy>>;

  beforeEach(async () => {
    copy = await projectCopy();
  });
  afterEach(async () => {
    await copy.destroy();
  });

  it('stops on Ctrl-C the Postgres cluster that its own prestart bootstrap started', async () => {
    assert.equal(copy.clusterRunning(), false);
    const child = copy.start();
    const output = await upThenCtrlC(child, () => assert.equal(copy.clusterRunning(), true, 'the cluster ran'));
    assert.equal(copy.clusterRunning(), false, `the cluster was left running:\n${output}`);
    assert.match(output, /\[start\] metrics \(Prometheus text\): worker http:\/\/127\.0\.0\.1:\d+\/metrics/);
  });

  it('leaves running on Ctrl-C a Postgres cluster that was running before npm start', async () => {
    const bootstrap = await copy.run(['run', '--silent', 'bootstrap']);
    assert.equal(bootstrap.code, 0, bootstrap.stderr);
    assert.equal(copy.clusterRunning(), true);
    const output = await upThenCtrlC(copy.start());
    assert.equal(copy.clusterRunning(), true, `a cluster started before npm start was stopped:\n${output}`);
  });
});
