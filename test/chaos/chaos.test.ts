import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

let child: ChildProcess | undefined;

/** Runs `npm run chaos` as a user would and returns its output and exit code. */
function runChaos(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'chaos', 'main.ts'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => resolve({ code, out }));
  });
}

/** The `key=value` fields of the summary line. */
function fields(line: string): Record<string, number> {
  return Object.fromEntries([...line.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}

describe('chaos run', function () {
  this.timeout(240_000);

  // A run cut short by the timeout is interrupted like Ctrl-C, so it stops the stack it started.
  afterEach(async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGINT');
    const force = setTimeout(() => running.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(force);
  });

  it('loses, doubles and alters nothing while workers are killed, Postgres and Temporal restart and the model faults', async () => {
    // Seed 3's ten turns plan kills in every aimed phase, an expected failure (turn 7) and faults.
    const { code, out } = await runChaos(['--turns', '10', '--seed', '3', '--concurrency', '5']);
    const lines = out.trim().split('\n');
    const summary = lines.at(-1) ?? '';
    assert.match(summary, /^chaos: turns=10 /, out);
    const f = fields(summary);
    assert.equal(f['lost'], 0, out);
    assert.equal(f['duplicated'], 0, out);
    assert.equal(f['mismatched'], 0, out);
    assert.equal(f['tool_reexec_after_result'], 0, out);
    assert.equal(f['failed_expected'], 1, out);
    assert.equal(f['completed'], 9, out);
    assert.ok((f['kills'] ?? 0) >= 5, `expected at least 5 kills:\n${out}`);
    assert.ok((f['faults'] ?? 0) >= 1, `expected injected faults:\n${out}`);
    assert.ok(out.includes('chaos: outages: postgres down'), out);
    assert.ok(out.includes('temporal down'), out);
    assert.ok(out.includes('chaos: replayed 10 histories, 0 failed'), out);
    assert.equal(code, 0, out);
  });
});
