// `npm test [-- mocha args…]`: every test file, spread over a few mocha processes that run at once. Each process
// starts its own Temporal dev server and test database (test/support/env.ts), so files never share state across
// processes; most tests wait on Temporal and the network, not the CPU, so a few at once finish far sooner. With
// arguments (a file, `-g pattern`), it is plain mocha in one process. The last line is `test: N passed, N failed`.
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeWorkflowBundle } from '../worker/workflow-bundle';
import { PROJECT_ROOT } from './paths';
import { TEST_WORKFLOW_BUNDLE_ENV } from './test-bundle';

const Env = z.object({
  /** Mocha processes at once. @default 3 */
  TURNFLOW_TEST_JOBS: z.coerce.number().int().min(1).max(16).default(3),
});

/**
 * Seconds each file took in the last full run here (git-ignored), else the checked-in ones: the next run balances
 * its processes with them; a file neither knows counts as {@link GUESS_S}.
 */
const TIMINGS = path.join(PROJECT_ROOT, '.data', 'test-timings.json');
const CHECKED_IN_TIMINGS = path.join(PROJECT_ROOT, 'test', 'timings.json');
const GUESS_S = 15;
const MOCHA = path.join(PROJECT_ROOT, 'node_modules', '.bin', 'mocha');
const REPORTER = path.join(PROJECT_ROOT, 'test', 'support', 'timed-reporter.ts');

interface ShardResult {
  files: string[];
  code: number;
  output: string;
  passed: number;
  failed: number;
  pending: number;
  seconds: number;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.length > 0) return run(args, 'inherit').then((r) => r.code);

  const { TURNFLOW_TEST_JOBS: jobs } = Env.parse(process.env);
  const files = (await readdir(path.join(PROJECT_ROOT, 'test'), { recursive: true }))
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => path.join('test', f))
    .sort();
  const timings = { ...(await readTimings(CHECKED_IN_TIMINGS)), ...(await readTimings(TIMINGS)) };
  await mkdir(path.dirname(TIMINGS), { recursive: true });
  const fresh = `${TIMINGS}.${process.pid}`;
  const shards = balance(files, timings, jobs);
  console.log(`test: ${files.length} files in ${shards.length} mocha processes (TURNFLOW_TEST_JOBS=${jobs})`);

  const started = Date.now();
  // Bundled once for the whole run, from the sources as they are now: every mocha process and every worker process
  // a test spawns loads it instead of running webpack again (seconds of CPU each, on a machine the shards share).
  const bundle = path.join(PROJECT_ROOT, '.data', `test-workflow-bundle.${process.pid}.js`);
  await writeWorkflowBundle(bundle);
  const results = await Promise.all(
    shards.map(async (shard, i) => {
      const result = await run(['--reporter', REPORTER, ...shard], 'capture', {
        TURNFLOW_TEST_TIMINGS: fresh,
        [TEST_WORKFLOW_BUNDLE_ENV]: bundle,
      });
      console.log(`\n=== test process ${i + 1}/${shards.length}: ${shard.length} files, ${result.seconds} s`);
      process.stdout.write(result.output);
      return { ...result, files: shard };
    }),
  );
  const passed = sum(results.map((r) => r.passed));
  const failed = sum(results.map((r) => r.failed));
  const pending = sum(results.map((r) => r.pending));
  const broken = results.filter((r) => r.code !== 0 && r.failed === 0);
  for (const r of broken)
    console.log(`test: a mocha process exited ${r.code} with no failing test: ${r.files.join(' ')}`);
  console.log(`\ntest: wall time ${Math.round((Date.now() - started) / 1000)} s`);
  const ok = results.every((r) => r.code === 0);
  if (ok) await writeFile(TIMINGS, JSON.stringify({ ...timings, ...(await measured(fresh)) }, null, 2) + '\n');
  await rm(fresh, { force: true });
  await rm(bundle, { force: true });
  console.log(`test: ${passed} passed, ${failed} failed${pending > 0 ? `, ${pending} skipped` : ''}`);
  return ok ? 0 : 1;
}

/** Longest first, each to the least loaded process: the processes end close together. */
function balance(files: string[], timings: Record<string, number>, jobs: number): string[][] {
  const shards = Array.from({ length: Math.min(jobs, files.length) }, () => ({ files: [] as string[], load: 0 }));
  const cost = (f: string) => timings[f] ?? GUESS_S;
  for (const file of [...files].sort((a, b) => cost(b) - cost(a))) {
    const lightest = shards.reduce((a, b) => (b.load < a.load ? b : a));
    lightest.files.push(file);
    lightest.load += cost(file);
  }
  return shards.map((s) => s.files.sort());
}

const Timings = z.record(z.string(), z.number());

async function readTimings(file: string): Promise<Record<string, number>> {
  try {
    return Timings.parse(JSON.parse(await readFile(file, 'utf8')));
  } catch {
    return {};
  }
}

/** The per-file seconds the processes of this run reported (one JSON line each). */
async function measured(file: string): Promise<Record<string, number>> {
  const lines = (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const out: Record<string, number> = {};
  for (const line of lines)
    for (const [f, s] of Object.entries(Timings.parse(JSON.parse(line)))) out[f] = Math.round(s);
  return out;
}

function run(
  args: string[],
  stdio: 'inherit' | 'capture',
  env: Record<string, string> = {},
): Promise<Omit<ShardResult, 'files'>> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(MOCHA, args, {
      cwd: PROJECT_ROOT,
      stdio: stdio === 'inherit' ? 'inherit' : ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: process.env['FORCE_COLOR'] ?? '0', ...env },
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const count = (word: string) => Number(new RegExp(`^\\s*(\\d+) ${word}`, 'm').exec(output)?.[1] ?? 0);
      resolve({
        code: code ?? (signal ? 1 : 0),
        output,
        passed: count('passing'),
        failed: count('failing'),
        pending: count('pending'),
        seconds: Math.round((Date.now() - started) / 1000),
      });
    });
  });
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
