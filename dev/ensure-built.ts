import { execFile } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { PROJECT_ROOT } from './paths';

const run = promisify(execFile);

/** Where `npm run build` writes the package. */
export const DIST = path.join(PROJECT_ROOT, 'dist');

let built: Promise<void> | undefined;

/**
 * Makes sure dist/ holds a complete build of the current sources: builds once per process (`npm run build`), unless
 * the last complete build (dist/.build-complete, written last by dev/build.ts) is newer than every file the build
 * reads — as after `npm run lint`, which builds first.
 */
export function ensureBuilt(): Promise<void> {
  built ??= (async () => {
    if (isFresh()) return;
    await run('npm', ['run', '--silent', 'build'], { cwd: PROJECT_ROOT, maxBuffer: 16 * 1024 * 1024 });
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
    ...['package.json', 'tsconfig.json', 'tsconfig.build.json', 'dev/build.ts'].map(
      (file) => statSync(path.join(PROJECT_ROOT, file)).mtimeMs,
    ),
    ...buildSources().map((dir) => newestIn(path.join(PROJECT_ROOT, dir))),
  );
  return newest < stamp;
}

/** The folders the build compiles: tsconfig.build.json's `include` (read there, so the two cannot drift apart). */
export function buildSources(): string[] {
  const file = path.join(PROJECT_ROOT, 'tsconfig.build.json');
  const read = ts.readConfigFile(file, (name) => ts.sys.readFile(name));
  if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  const include = (read.config as { include?: unknown }).include;
  if (!Array.isArray(include) || !include.every((dir): dir is string => typeof dir === 'string')) {
    throw new Error(`${file} has no include list of folders`);
  }
  return include;
}

function newestIn(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestIn(full) : statSync(full).mtimeMs);
  }
  return newest;
}
