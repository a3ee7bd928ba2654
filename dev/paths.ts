import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';

/** Absolute path of the repository root (the folder holding package.json). */
export const PROJECT_ROOT = path.resolve(__dirname, '..');

/** Git-ignored folder for local state: the Postgres cluster, the Temporal dev server's SQLite file, logs. */
export const DATA_DIR = path.join(PROJECT_ROOT, '.data');

/** Git-ignored folder for tools the bootstrap installs (the Temporal CLI). */
export const TOOLS_DIR = path.join(PROJECT_ROOT, '.tools');

/**
 * Whether every folder above `dir` lets other users through (o+x). Run as root, the Postgres cluster belongs
 * to the `postgres` OS user, who must be able to reach it.
 */
function othersCanReach(dir: string): boolean {
  for (let current = path.dirname(dir); ; current = path.dirname(current)) {
    try {
      if ((statSync(current).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    if (path.dirname(current) === current) return true;
  }
}

/**
 * Where the private Postgres cluster lives: `.data/` normally; when we are root and the repository sits
 * where the `postgres` user cannot go (say under /root), a folder of its own under /var/lib/turnflow,
 * named after the repository's path so two clones never share a cluster.
 */
export const PG_BASE_DIR =
  process.getuid?.() === 0 && !othersCanReach(DATA_DIR)
    ? path.join('/var/lib/turnflow', createHash('sha256').update(PROJECT_ROOT).digest('hex').slice(0, 12))
    : DATA_DIR;
