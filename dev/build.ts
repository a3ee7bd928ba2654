// `npm run build`: compiles the package into dist/ (tsconfig.build.json), ships the SQL migrations beside the
// compiled migrator, where `migrate()` looks for them (`db/migrations` next to `db/migrate.js`), and bundles the
// compiled workflows into dist/workflow-bundle.js, which a worker of the package loads instead of bundling at start.
import { spawnSync } from 'node:child_process';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
/** Marker of a finished build (not shipped: `files` leaves it out). */
const BUILD_COMPLETE = '.build-complete';

function main(): void {
  rmSync(DIST, { recursive: true, force: true });
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
  cpSync(path.join(ROOT, 'db', 'migrations'), path.join(DIST, 'db', 'migrations'), {
    recursive: true,
    filter: (src) => !src.endsWith('.ts'),
  });
  // The compiled workflows, bundled by the compiled bundler module (what the package's worker would bundle).
  const bundle = spawnSync(
    process.execPath,
    [
      '-e',
      `require('./dist/worker/workflow-bundle.js').writePackagedWorkflowBundle().catch((err) => {
        console.error(err);
        process.exit(1);
      })`,
    ],
    { cwd: ROOT, stdio: 'inherit' },
  );
  if (bundle.status !== 0) process.exit(bundle.status ?? 1);
  // Written last, so its presence means the whole of dist/ is from one successful build (tests reuse it).
  writeFileSync(path.join(DIST, BUILD_COMPLETE), `${new Date().toISOString()}\n`);
}

main();
