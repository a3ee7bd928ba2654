// The real worker process with one more tool, `transfer`, that always needs approval and writes every attempt, and
// its effect once per idempotency key, to the file RUNS_FILE: a test can SIGKILL it and still count what ran.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineTool } from '../../activities/tools';
import { runWorkerProcess } from '../../worker/process';

/** A line of the runs file. */
export interface RunLine {
  kind: 'attempt' | 'effect';
  key: string;
  amount: number;
  at: number;
}

/** The lines of a runs file (none when it does not exist yet). */
export function readRuns(file: string): RunLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as RunLine);
}

const file = process.env['RUNS_FILE'];
const transferMs = Number(process.env['TRANSFER_MS'] ?? '0');

const transfer = defineTool({
  name: 'transfer',
  description: 'Transfers an amount.',
  parameters: z.object({ amount: z.number() }),
  approval: 'user',
  execute: async ({ amount }, ctx) => {
    const line = (kind: RunLine['kind']) =>
      appendFileSync(file!, `${JSON.stringify({ kind, key: ctx.idempotencyKey, amount, at: Date.now() })}\n`);
    line('attempt');
    await sleep(transferMs);
    // The effect happens once per idempotency key, as a system handed the key would make it happen.
    if (!readRuns(file!).some((r) => r.kind === 'effect' && r.key === ctx.idempotencyKey)) line('effect');
    return { transferred: amount };
  },
});

if (require.main === module) {
  if (!file) throw new Error('RUNS_FILE is not set');
  runWorkerProcess({ tools: [transfer] }).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
