// `npm run build`: compiles the package into dist/ (tsconfig.build.json) and ships the SQL migrations beside the
// compiled migrator, where `migrate()` looks for them (`db/migrations` next to `db/migrate.js`).
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
  // Written last, so its presence means the whole of dist/ is from one successful build (tests reuse it).
  writeFileSync(path.join(DIST, BUILD_COMPLETE), `${new Date().toISOString()}\n`);
}

main();
