import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { ensureBuilt } from '../../dev/ensure-built';
import { ROOT } from './build';

const run = promisify(execFile);

/** Loads a built entry point in a fresh Node process and lists the package of every module it loaded. */
async function packagesLoadedBy(entry: string): Promise<{ packages: string[]; local: string[] }> {
  const script = `
    require(${JSON.stringify(path.join(ROOT, entry))});
    const loaded = Object.keys(require.cache);
    const packages = new Set(), local = new Set();
    for (const file of loaded) {
      const at = file.lastIndexOf('/node_modules/');
      if (at < 0) { local.add(file.slice(${JSON.stringify(ROOT.length + 1)}).split('/').slice(0, 2).join('/')); continue; }
      const parts = file.slice(at + 14).split('/');
      packages.add(parts[0].startsWith('@') ? parts[0] + '/' + parts[1] : parts[0]);
    }
    console.log(JSON.stringify({ packages: [...packages].sort(), local: [...local].sort() }));`;
  const { stdout } = await run(process.execPath, ['-e', script], { cwd: ROOT });
  return JSON.parse(stdout) as { packages: string[]; local: string[] };
}

describe('package: turnflow/client', function () {
  this.timeout(180_000);
  before(ensureBuilt);

  it('loads neither the Temporal worker, nor openai, nor the gateway, nor the activities', async () => {
    const { packages, local } = await packagesLoadedBy('dist/entry/client.js');
    // A control: the loader sees what the client does need, so the absences below mean something.
    for (const needed of ['@temporalio/client', 'pg', 'zod']) assert.ok(packages.includes(needed), needed);
    const unwantedPackages = [
      '@temporalio/worker',
      '@temporalio/activity',
      'openai',
      'hono',
      '@hono/node-server',
      'ai',
    ];
    for (const unwanted of unwantedPackages) {
      assert.ok(!packages.includes(unwanted), `turnflow/client loaded ${unwanted}`);
    }
    for (const unwanted of ['dist/gateway', 'dist/activities', 'dist/worker', 'dist/db']) {
      assert.ok(!local.includes(unwanted), `turnflow/client loaded ${unwanted}`);
    }
  });

  it('exports every error class the client code throws, so callers can tell them apart with instanceof', async () => {
    const declared: string[] = [];
    for (const file of await readdir(path.join(ROOT, 'client'))) {
      if (!file.endsWith('.ts')) continue;
      const source = await readFile(path.join(ROOT, 'client', file), 'utf8');
      for (const match of source.matchAll(/^export class (\w+Error) extends Error/gm)) declared.push(match[1]!);
    }
    assert.ok(declared.includes('TurnStartTimeoutError'), 'the scan finds the client error classes');
    const script = `const e = require(${JSON.stringify(path.join(ROOT, 'dist/entry/client.js'))});
      console.log(JSON.stringify(Object.keys(e).filter((k) => typeof e[k] === 'function')));`;
    const exported = JSON.parse((await run(process.execPath, ['-e', script], { cwd: ROOT })).stdout) as string[];
    assert.deepEqual(
      declared.filter((name) => !exported.includes(name)),
      [],
      'error classes missing from turnflow/client',
    );
  });

  it('is what the worker entry is not: the worker entry does load the Temporal worker and openai', async () => {
    const { packages } = await packagesLoadedBy('dist/entry/worker.js');
    assert.ok(packages.includes('@temporalio/worker'));
    assert.ok(packages.includes('openai'));
  });
});
