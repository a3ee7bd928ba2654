import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { planRun, POLICIES } from '../../chaos/plan';

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

  it('several messages per conversation under every policy, kills at turn ends: nothing lost, doubled, altered or failed', async () => {
    // Seed 3's eight messages: two conversations of four, every double-texting policy (a reject, an interrupt and a
    // steer mid-turn), kills at turn ends with the next message 0-200 ms later, an expected failure (turn 7).
    const plans = planRun(3, 8).flat();
    assert.deepEqual(new Set(plans.map((p) => p.policy)), new Set(POLICIES));
    assert.ok(plans.some((p) => p.send?.after === 'end' && p.send.kill !== 'none'));
    assert.ok(plans.some((p) => p.send?.after === 'events' && p.policy === 'steer'));
    const { code, out } = await runChaos(['--turns', '8', '--seed', '3', '--concurrency', '2']);
    const lines = out.trim().split('\n');
    const summary = lines.at(-1) ?? '';
    assert.match(summary, /^chaos: turns=8 /, out);
    const f = fields(summary);
    assert.equal(f['lost'], 0, out);
    assert.equal(f['duplicated'], 0, out);
    assert.equal(f['mismatched'], 0, out);
    assert.equal(f['tool_reexec_after_result'], 0, out);
    assert.equal(f['task_failures'], 0, out);
    assert.equal(f['replay_failures'], 0, out);
    const accounted = ['completed', 'failed_expected', 'interrupted', 'steered', 'refused'];
    assert.equal(
      accounted.reduce((n, k) => n + (f[k] ?? 0), 0),
      8,
      out,
    );
    assert.ok((f['turn_end_kills'] ?? 0) >= 1, `expected a kill at a turn's end:\n${out}`);
    assert.ok((f['kills'] ?? 0) >= 3, `expected at least 3 kills:\n${out}`);
    assert.ok('recovery_p50_ms' in f, out);
    assert.ok(out.includes('chaos: outages: postgres down'), out);
    assert.ok(out.includes('temporal down'), out);
    assert.match(out, /chaos: replayed \d+ histories, 0 failed/, out);
    assert.equal(code, 0, out);
  });
});
