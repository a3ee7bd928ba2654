import type pg from 'pg';
import type { ClientOutcome } from './client';
import { expectedAnswer, type TurnPlan } from './plan';

/** The invariants of a chaos run, counted over its turns. */
export interface Verdict {
  completed: number;
  failedExpected: number;
  /** Turns with no end: no terminal event reached the client, or no stored answer for a turn that should have one. */
  lost: number;
  /** Turns with a second copy of something: a user message, a final answer, a tool result, or an event delivered twice. */
  duplicated: number;
  /** Turns whose client text, stored answer and expected answer are not all equal (or that ended the wrong way). */
  mismatched: number;
  /** Tool executions that started after the call's result was stored. */
  toolReexecAfterResult: number;
  /** Tool executions in all, and calls that ran more than once (allowed: a kill between effect and result). */
  toolRuns: { executions: number; repeated: number };
  /** Ends the gateway announced without a cursor, other than "resume": never expected, every turn ends on its stream. */
  gatewayEnds: string[];
  /** Streams the gateway gave up with `gateway.stream_failed` (the client resumed). */
  streamFailures: number;
  /** One line per turn that broke an invariant. */
  problems: string[];
}

interface TurnRow {
  id: string;
  status: string;
  users: number;
  finals: number;
  final: string | null;
  duplicate_results: number;
}

/** Compares what every client saw with what Postgres stored and with what each turn's plan says it must be. */
export async function checkInvariants(pool: pg.Pool, plans: TurnPlan[], outcomes: ClientOutcome[]): Promise<Verdict> {
  const verdict: Verdict = {
    completed: 0,
    failedExpected: 0,
    lost: 0,
    duplicated: 0,
    mismatched: 0,
    toolReexecAfterResult: 0,
    toolRuns: { executions: 0, repeated: 0 },
    gatewayEnds: [],
    streamFailures: 0,
    problems: [],
  };
  const ids = outcomes.map((o) => o?.turnId).filter((id): id is string => id !== undefined);
  const { rows } = await pool.query<TurnRow>(
    `SELECT t.id, t.status,
            (SELECT count(*)::int FROM messages m WHERE m.turn_id = t.id AND m.kind = 'user') AS users,
            (SELECT count(*)::int FROM messages m WHERE m.turn_id = t.id AND m.kind = 'final') AS finals,
            (SELECT m.content FROM messages m WHERE m.turn_id = t.id AND m.kind = 'final' LIMIT 1) AS final,
            (SELECT count(*)::int FROM (
               SELECT 1 FROM messages m WHERE m.turn_id = t.id AND m.kind = 'tool'
               GROUP BY m.hop, m.tool_call_id HAVING count(*) > 1) d) AS duplicate_results
     FROM turns t WHERE t.id = ANY($1)`,
    [ids],
  );
  const stored = new Map(rows.map((r) => [r.id, r]));

  for (const plan of plans) {
    const outcome = outcomes[plan.index];
    const row = outcome?.turnId ? stored.get(outcome.turnId) : undefined;
    const problem = (what: string, counter: 'lost' | 'duplicated' | 'mismatched') => {
      verdict[counter] += 1;
      verdict.problems.push(`turn ${plan.index} (${outcome?.turnId ?? 'never started'}): ${what}`);
    };
    for (const end of outcome?.gatewayEnds ?? []) {
      if (end === 'gateway.stream_failed') verdict.streamFailures += 1;
      else verdict.gatewayEnds.push(`turn ${plan.index}: ${end}`);
    }
    if (!outcome || !row || outcome.terminal === undefined) {
      problem(`no end reached the client (status ${row?.status ?? 'not stored'})`, 'lost');
      continue;
    }
    if (row.users !== 1 || row.finals > 1 || row.duplicate_results > 0 || outcome.duplicateEvents > 0) {
      problem(
        `${row.users} user messages, ${row.finals} finals, ${row.duplicate_results} doubled tool results, ` +
          `${outcome.duplicateEvents} events delivered twice`,
        'duplicated',
      );
      continue;
    }
    if (plan.expectFailure) {
      if (row.status === 'failed' && outcome.terminal === 'error' && row.finals === 0) verdict.failedExpected += 1;
      else problem(`expected to fail, but ended ${row.status} (${outcome.terminal})`, 'mismatched');
      continue;
    }
    if (row.status !== 'completed' || outcome.terminal !== 'done' || row.final === null) {
      problem(`ended ${row.status} with ${outcome.terminal} ${outcome.errorType ?? ''}`.trim(), 'lost');
      continue;
    }
    const expected = expectedAnswer(plan);
    if (row.final !== expected || outcome.text !== expected) {
      problem(
        `answer differs: stored ${JSON.stringify(row.final.slice(0, 80))}, client ${JSON.stringify(outcome.text.slice(0, 80))}`,
        'mismatched',
      );
      continue;
    }
    verdict.completed += 1;
  }

  const runs = await pool.query<{ executions: number; repeated: number; after_result: number }>(
    `WITH runs AS (
       SELECT r.*, m.created_at AS result_at FROM chaos_tool_runs r
       LEFT JOIN messages m ON m.turn_id = r.turn_id AND m.kind = 'tool' AND m.hop = r.hop
                            AND m.tool_call_id = r.tool_call_id)
     SELECT count(*)::int AS executions,
            (SELECT count(*)::int FROM (SELECT 1 FROM runs GROUP BY idempotency_key HAVING count(*) > 1) x) AS repeated,
            count(*) FILTER (WHERE result_at IS NOT NULL AND executed_at > result_at)::int AS after_result
     FROM runs`,
  );
  const r = runs.rows[0]!;
  verdict.toolRuns = { executions: r.executions, repeated: r.repeated };
  verdict.toolReexecAfterResult = r.after_result;
  return verdict;
}
