// `npm run chaos -- [--turns 100] [--seed 1] [--concurrency 8] [--eager] [--keep]`: turns (2-5 messages per
// conversation, under every double-texting policy) through the real stack while workers are killed, Postgres and
// Temporal restart and the model faults; exits 0 only when no turn was lost, duplicated or altered and no workflow
// task failed. `--eager` runs the dev server with eager activity dispatch (off: a cluster's default). The last line
// is the summary.
import { setMaxListeners } from 'node:events';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { removeRunDir, runChaos, type ChaosSummary } from './run';

const Args = z.object({
  turns: z.coerce.number().int().min(1).max(10_000).default(100),
  seed: z.coerce.number().int().min(0).default(1),
  concurrency: z.coerce.number().int().min(1).max(200).default(8),
  keep: z.boolean().default(false),
  eager: z.boolean().default(false),
});

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      turns: { type: 'string' },
      seed: { type: 'string' },
      concurrency: { type: 'string' },
      keep: { type: 'boolean' },
      eager: { type: 'boolean' },
    },
  });
  const args = Args.parse(values);
  // Ctrl-C stops every process the run started before exiting.
  const interrupted = new AbortController();
  // Every client in flight listens on it (eight conversations at once, a few streams each): not a leak.
  setMaxListeners(0, interrupted.signal);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => interrupted.abort());
  const summary = await runChaos({ ...args, log: (line) => console.log(line), signal: interrupted.signal });
  const ok = passed(summary);
  report(summary);
  if (ok && !args.keep) await removeRunDir(summary.dir);
  else console.log(`chaos: logs kept in ${summary.dir}`);
  console.log(summaryLine(summary));
  return ok ? 0 : 1;
}

/**
 * The invariants: nothing lost, doubled or altered, every message accounted for, every history replays and none
 * holds a failed workflow task.
 */
export function passed(s: ChaosSummary): boolean {
  return (
    s.lost === 0 &&
    s.duplicated === 0 &&
    s.mismatched === 0 &&
    s.toolReexecAfterResult === 0 &&
    s.completed + s.failedExpected + s.interrupted + s.steered + s.refused === s.turns &&
    s.replay.failures.length === 0 &&
    s.taskFailures.length === 0 &&
    s.gatewayEnds.length === 0 &&
    Object.values(s.unexpectedExits).every((n) => n === 0)
  );
}

function report(s: ChaosSummary): void {
  for (const problem of s.problems) console.log(`chaos: PROBLEM ${problem}`);
  for (const end of s.gatewayEnds) console.log(`chaos: PROBLEM the gateway announced an end: ${end}`);
  for (const failure of s.replay.failures) console.log(`chaos: PROBLEM replay ${failure}`);
  for (const failure of s.taskFailures) console.log(`chaos: PROBLEM workflow task failed: ${failure}`);
  const phases = Object.entries(s.killsByPhase).map(([phase, n]) => `${phase}=${n}`);
  console.log(`chaos: kills by phase: ${phases.join(' ')}`);
  console.log(
    `chaos: recovery from a kill to the next delta (${s.recovery.samples} samples): ` +
      `p50 ${s.recovery.p50} ms, p90 ${s.recovery.p90} ms`,
  );
  const recoveries = Object.entries(s.recovery.byPhase).map(
    ([phase, r]) => `${phase} ${r.p50}/${r.p90} (${r.samples})`,
  );
  console.log(`chaos: recovery by kill phase, p50/p90 ms (samples): ${recoveries.join(', ')}`);
  console.log(`chaos: outages: ${s.outages.join(', ') || 'none'}`);
  console.log(`chaos: streams the gateway asked to resume (gateway.stream_failed): ${s.streamFailures}`);
  console.log(
    `chaos: tool executions ${s.toolRuns.executions}, calls executed more than once ${s.toolRuns.repeated} ` +
      `(allowed: killed between effect and stored result)`,
  );
  const exits = Object.entries(s.unexpectedExits).map(([name, n]) => `${name}=${n}`);
  console.log(`chaos: unexpected process exits: ${exits.join(' ')}`);
  console.log(`chaos: replayed ${s.replay.histories} histories, ${s.replay.failures.length} failed`);
  console.log(`chaos: workflow task failures in histories: ${s.taskFailures.length}`);
  for (const raced of s.racedCompletions) console.log(`chaos: completion raced by a signal or update: ${raced}`);
  console.log(
    `chaos: completions the server refused because a signal or update arrived meanwhile (not failures): ` +
      `${s.racedCompletions.length}`,
  );
  console.log(
    `chaos: workflow tasks timed out (a worker killed while holding one): ` +
      `conversation ${s.taskTimeouts.conversation}, turn ${s.taskTimeouts.turn}`,
  );
  console.log(`chaos: eager activity dispatch ${s.eager ? 'on' : 'off'}`);
  console.log(`chaos: wall time ${Math.round(s.wallMs / 1000)} s`);
}

function summaryLine(s: ChaosSummary): string {
  return (
    `chaos: turns=${s.turns} completed=${s.completed} failed_expected=${s.failedExpected} ` +
    `interrupted=${s.interrupted} steered=${s.steered} refused=${s.refused} kills=${s.kills} ` +
    `turn_end_kills=${s.killsByPhase['turn-end']} faults=${s.faults} lost=${s.lost} duplicated=${s.duplicated} ` +
    `mismatched=${s.mismatched} tool_reexec_after_result=${s.toolReexecAfterResult} ` +
    `task_failures=${s.taskFailures.length} raced_completions=${s.racedCompletions.length} replay_failures=${s.replay.failures.length} ` +
    `recovery_p50_ms=${s.recovery.p50} recovery_p90_ms=${s.recovery.p90} eager=${s.eager ? 1 : 0}`
  );
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
