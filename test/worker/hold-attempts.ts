import { existsSync, readFileSync } from 'node:fs';

/** The idempotency keys of the `hold` attempts (test/worker/holding-worker.ts) written to `file`, in order. */
export function holdAttempts(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
}
