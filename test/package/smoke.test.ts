import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { startScriptedLlm, type ScriptedLlm } from '../../scripted-llm';
import {
  createScratchDatabase,
  freePort,
  spawnWatched,
  testEnv,
  uniqueId,
  uniqueTaskQueue,
  type WorkerProcess,
} from '../support';
import { packInto, ROOT } from './build';

const run = promisify(execFile);

/** The version of `name` installed in this repository (what `npm ci` put there), so the user project matches it. */
function installed(name: string): string {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

/**
 * A fresh project as a backend team would have it: turnflow installed from its tarball with the peers it needs,
 * TypeScript sources of its own (the examples) compiled with its own tsconfig.
 */
async function userProject(dir: string, tarball: string): Promise<void> {
  const root = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    overrides?: Record<string, string>;
  };
  const peers = [
    '@temporalio/activity',
    '@temporalio/client',
    '@temporalio/common',
    '@temporalio/envconfig',
    '@temporalio/worker',
    '@temporalio/workflow',
    'openai',
    'pg',
    'pino',
    'zod',
  ];
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({
      name: 'acme-chat-service',
      private: true,
      type: 'commonjs',
      dependencies: {
        turnflow: `file:${tarball}`,
        ...Object.fromEntries(peers.map((name) => [name, installed(name)])),
      },
      devDependencies: { '@types/node': installed('@types/node') },
      // The same native builds the repository pins, so the install comes from the npm cache.
      overrides: root.overrides ?? {},
    }),
  );
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true,
        types: ['node'],
        // As Temporal's own samples do: the SDK's declarations are not written for every strictness flag.
        skipLibCheck: true,
        outDir: 'dist',
        rootDir: 'src',
      },
      include: ['src'],
    }),
  );
  mkdirSync(path.join(dir, 'src'));
  for (const file of ['worker.ts', 'service.ts']) {
    copyFileSync(path.join(ROOT, 'examples', file), path.join(dir, 'src', file));
  }
  await run('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: dir,
    // Not the settings `npm test` hands its scripts (npm_config_*, npm_package_*): they describe this repository.
    env: Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_'))),
    maxBuffer: 16 * 1024 * 1024,
  });
  // The project's own compiler run; the repository's TypeScript, so the test needs no second download of it.
  await run(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], {
    cwd: dir,
  }).catch((err: unknown) => {
    const output = (err as { stdout?: string }).stdout;
    throw new Error(`the user project does not compile:\n${output ?? (err instanceof Error ? err.message : '')}`, {
      cause: err,
    });
  });
}

/** POSTs `body` to the service and reads its NDJSON reply to the end. */
async function chat(port: number, body: unknown): Promise<{ status: number; lines: Record<string, unknown>[] }> {
  const response = await fetch(`http://127.0.0.1:${port}/chat`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  const lines = text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { status: response.status, lines };
}

describe('package: installed from its tarball into a fresh project', function () {
  this.timeout(240_000);
  /** The temporary directory this suite made (and the only one it removes). */
  let scratch: string | undefined;
  /** The user project inside it. */
  let dir: string;
  let llm: ScriptedLlm | undefined;
  const processes: WorkerProcess[] = [];

  before(async function () {
    scratch = mkdtempSync(path.join(tmpdir(), 'turnflow-user-'));
    const tarball = await packInto(scratch);
    dir = path.join(scratch, 'acme');
    mkdirSync(dir);
    await userProject(dir, tarball);
    llm = await startScriptedLlm({ port: 0 });
  });

  after(async () => {
    for (const p of processes) await p.kill();
    await llm?.close();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('finds its migrations in the installed package and creates its tables', async () => {
    const db = await createScratchDatabase('package');
    try {
      const script = `require('turnflow/worker').migrate(process.argv[1]).then(() => process.exit(0), (e) => { console.error(e); process.exit(1); })`;
      await run(process.execPath, ['-e', script, db.url], { cwd: dir });
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ name: string }>(
          `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
        );
        const tables = rows.map((r) => r.name);
        for (const table of ['turns', 'messages', 'turn_events', 'worker_catalogs'])
          assert.ok(tables.includes(table), table);
      } finally {
        await client.end();
      }
    } finally {
      await db.drop();
    }
  });

  it("runs a turn on the team's own worker with its own tool, started and relayed by its own service", async () => {
    const env = await testEnv();
    const taskQueue = uniqueTaskQueue('package');
    const common = { DATABASE_URL: env.databaseUrl, TEMPORAL_ADDRESS: env.temporal.address, TASK_QUEUE: taskQueue };
    const worker = spawnWatched(['dist/worker.js'], {
      cwd: dir,
      env: { ...common, OPENAI_BASE_URL: llm!.baseURL, OPENAI_API_KEY: 'test-key', OPENAI_MODEL: 'scripted-model' },
    });
    processes.push(worker);
    const port = await freePort();
    const service = spawnWatched(['dist/service.js'], { cwd: dir, env: { ...common, PORT: String(port) } });
    processes.push(service);
    await Promise.all([worker.waitForOutput(/worker ready/), service.waitForOutput(/service ready/)]);

    const answer = 'Order A-1001 has shipped.';
    llm!.enqueue(
      [{ toolCalls: [{ id: 'call_1', name: 'order_status', arguments: { orderId: 'A-1001' } }] }],
      [{ text: answer }],
    );
    const { status, lines } = await chat(port, {
      conversationId: uniqueId('conv'),
      requestId: 'r1',
      message: 'where is my order A-1001?',
    });
    assert.equal(status, 200, JSON.stringify(lines));
    assert.deepEqual(
      lines.map((e) => e['type']).filter((t) => t !== 'text'),
      ['tool_calls', 'tool_result', 'done'],
    );
    const result = lines.find((e) => e['type'] === 'tool_result')!;
    assert.equal(result['name'], 'order_status');
    assert.deepEqual(JSON.parse(result['content'] as string), { orderId: 'A-1001', status: 'shipped' });
    const text = lines
      .filter((e) => e['type'] === 'text')
      .map((e) => e['text'] as string)
      .join('');
    assert.equal(text, answer);
    assert.equal(lines.at(-1)!['status'], 'completed');
    assert.match(String(lines.at(-1)!['turnId']), /^turn\/acme\//);

    // The model was offered the team's tool beside the built-in ones.
    const offered = (llm!.requests[0]?.body as { tools?: { function: { name: string } }[] }).tools ?? [];
    assert.deepEqual(offered.map((t) => t.function.name).sort(), ['calculate', 'get_current_time', 'order_status']);
  });

  it('answers a request the turn cannot take with a 400 from the service', async () => {
    const port = await freePort();
    const env = await testEnv();
    const service = spawnWatched(['dist/service.js'], {
      cwd: dir,
      env: { DATABASE_URL: env.databaseUrl, TEMPORAL_ADDRESS: env.temporal.address, PORT: String(port) },
    });
    processes.push(service);
    await service.waitForOutput(/service ready/);
    const { status, lines } = await chat(port, { conversationId: 'has a space', requestId: 'r1', message: 'hi' });
    assert.equal(status, 400);
    assert.match(String(lines[0]?.['error']), /conversationId/);
  });
});
