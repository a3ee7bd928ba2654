// `npm run lint`'s package check, after the build: packs dist/ as `npm pack` would ship it (without building
// again) and lints the tarball with publint (manifest, `exports`, `files`) and Are the Types Wrong (declarations
// resolve for every entry point, from CommonJS and ESM under node16 resolution).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const bin = (name: string) => path.join(ROOT, 'node_modules', '.bin', name);

function main(): void {
  const scratch = mkdtempSync(path.join(tmpdir(), 'turnflow-pack-'));
  try {
    const packed = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    const [{ filename }] = JSON.parse(packed) as [{ filename: string }];
    const tarball = path.join(scratch, filename);
    execFileSync(bin('publint'), ['run', tarball, '--strict'], { cwd: ROOT, stdio: 'inherit' });
    // node10 resolution cannot see `exports` subpaths at all; every supported Node (>= 20) resolves them.
    execFileSync(bin('attw'), [tarball, '--profile', 'node16', '--format', 'table-flipped'], {
      cwd: ROOT,
      stdio: 'inherit',
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main();
