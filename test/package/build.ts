import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureBuilt } from '../../dev/ensure-built';

const run = promisify(execFile);

/** The repository root (where package.json is). */
export const ROOT = path.resolve(__dirname, '..', '..');

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
