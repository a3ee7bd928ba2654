// The real worker process with one more tool, `hold`, whose first attempt of a call writes an `attempt` line to the
// file RUNS_FILE and then holds until it is cancelled, and whose later attempts answer at once: a test can find the
// worker running the call, SIGKILL it and see the call retried elsewhere, at once although its retry interval is
// ten minutes.
import { appendFileSync } from 'node:fs';
import { z } from 'zod';
import { defineTool } from '../../activities/tools';
import { runWorkerProcess } from '../../worker/process';
import { holdAttempts } from './hold-attempts';

const file = process.env['RUNS_FILE'];

const hold = defineTool({
  name: 'hold',
  description: 'Holds its first attempt until it is cancelled.',
  parameters: z.object({}),
  timeoutMs: 120_000,
  // A retry after a lost worker must not wait for this: the survivor asks for an immediate one (nextRetryDelay).
  retry: { initialIntervalMs: 600_000, maximumIntervalMs: 600_000 },
  execute: (_args, ctx) => {
    const earlier = holdAttempts(file!).includes(ctx.idempotencyKey);
    appendFileSync(file!, `${ctx.idempotencyKey}\n`);
    if (earlier) return Promise.resolve('held once, answered now');
    return new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve('cancelled')));
  },
});

runWorkerProcess({ tools: [hold] }).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
