import path from 'node:path';

/** Absolute path of the repository root (the folder holding package.json). */
export const PROJECT_ROOT = path.resolve(__dirname, '..');

/** Git-ignored folder for local state: the Postgres cluster, the Temporal dev server's SQLite file, logs. */
export const DATA_DIR = path.join(PROJECT_ROOT, '.data');

/** Git-ignored folder for tools the bootstrap installs (the Temporal CLI). */
export const TOOLS_DIR = path.join(PROJECT_ROOT, '.tools');
