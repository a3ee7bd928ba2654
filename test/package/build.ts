import { execFile } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository root (where package.json is). */
export const ROOT = path.resolve(__dirname, '..', '..');
const DIST = path.join(ROOT, 'dist');
/** What `npm run build` reads (tsconfig.build.json's `include`, the migrations, the manifest). */
const SOURCES = [
  'entry',
  'common',
  'stream-log',
  'config',
  'workflows',
  'activities',
  'worker',
  'client',
  'gateway',
  'metrics',
  'db',
];

let built: Promise<void> | undefined;

/**
 * Makes sure dist/ holds a complete build of the current sources: builds once per run (`npm run build`), unless
 * the last complete build (dist/.build-complete, written last by dev/build.ts) is newer than every source file —
 * as after `npm run lint`, which builds first.
 */
export function ensureBuilt(): Promise<void> {
  built ??= (async () => {
    if (isFresh()) return;
    await run('npm', ['run', '--silent', 'build'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  })();
  return built;
}

function isFresh(): boolean {
  let stamp: number;
  try {
    stamp = statSync(path.join(DIST, '.build-complete')).mtimeMs;
  } catch {
    return false;
  }
  const newest = Math.max(
    statSync(path.join(ROOT, 'package.json')).mtimeMs,
    statSync(path.join(ROOT, 'tsconfig.build.json')).mtimeMs,
    ...SOURCES.map((dir) => newestIn(path.join(ROOT, dir))),
  );
  return newest < stamp;
}

function newestIn(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestIn(full) : statSync(full).mtimeMs);
  }
  return newest;
}

/** Packs the built package (`npm pack`, without rebuilding) into `dir`; returns the tarball's path. */
export async function packInto(dir: string): Promise<string> {
  await ensureBuilt();
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
  const [packed] = JSON.parse(stdout) as { filename: string }[];
  if (!packed) throw new Error(`npm pack reported nothing: ${stdout}`);
  return path.join(dir, packed.filename);
}
