import type pg from 'pg';
import type { ClientOutcome } from './client';
import { expectedAnswer, type TurnPlan } from './plan';

/** The invariants of a chaos run, counted over its messages (each message is a turn of its conversation). */
export interface Verdict {
  /** Turns that ended with their expected answer (a steered message's answer included). */
  completed: number;
  failedExpected: number;
  /** Turns stopped by a later `interrupt` message, with a prefix of their expected answer. */
  interrupted: number;
  /** Messages steered into the running turn (their answer is that turn's, checked with it). */
  steered: number;
  /** Messages refused with `409` under `reject`, naming an earlier turn of their conversation; nothing stored. */
  refused: number;
  /** Turns with no end: no terminal event reached the client, or no stored answer for a turn that should have one. */
  lost: number;
  /** Turns with a second copy of something: a user message, a final answer, a tool result, or an event delivered twice. */
  duplicated: number;
  /**
   * Turns whose client text, stored answer and expected answer are not all equal, that ended the wrong way, ran out
   * of their conversation's order, or whose start answered something their policy cannot explain.
   */
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
  finish_reason: string | null;
  steered_into: string | null;
  users: number;
  finals: number;
  final: string | null;
  duplicate_results: number;
  steers: string[];
  first_id: string | null;
  last_id: string | null;
}

/** A turn of its own that a conversation accepted (running or queued), with the messages steered into it. */
interface Owner {
  plan: TurnPlan;
  outcome: ClientOutcome;
  steers: { plan: TurnPlan; outcome: ClientOutcome }[];
  /** A later message of the conversation was accepted with `interrupt`: this turn may end interrupted. */
  interruptible: boolean;
}

/**
 * Compares what every client saw with what Postgres stored and with what each message's plan and its start's answer
 * say it must be. Per conversation (its messages were sent one after another, so accepted in plan order):
 * - a `409` is explained only under `reject`, naming an earlier accepted turn of the conversation, with nothing stored;
 * - `steered` only under `steer`, into the conversation's latest accepted turn, whose stored answer is then the
 *   owner's text up to a hop boundary followed by the steered message's answer (or a chain of such);
 * - any other accepted message is a turn of its own with its plan's answer, or (when a later message interrupted)
 *   a prefix of it with `finish_reason: interrupted`; turns run one at a time in acceptance order.
 */
export async function checkInvariants(pool: pg.Pool, plans: TurnPlan[], outcomes: ClientOutcome[]): Promise<Verdict> {
  const verdict: Verdict = {
    completed: 0,
    failedExpected: 0,
    interrupted: 0,
    steered: 0,
    refused: 0,
    lost: 0,
    duplicated: 0,
    mismatched: 0,
    toolReexecAfterResult: 0,
    toolRuns: { executions: 0, repeated: 0 },
    gatewayEnds: [],
    streamFailures: 0,
    problems: [],
  };
  const ids = outcomes.flatMap((o) => (o ? [o.requestTurnId, ...(o.turnId ? [o.turnId] : [])] : []));
  const { rows } = await pool.query<TurnRow>(
    `SELECT t.id, t.status, t.finish_reason, t.steered_into,
            (SELECT count(*)::int FROM messages m WHERE m.turn_id = t.id AND m.kind = 'user') AS users,
            (SELECT count(*)::int FROM messages m WHERE m.turn_id = t.id AND m.kind = 'final') AS finals,
            (SELECT m.content FROM messages m WHERE m.turn_id = t.id AND m.kind = 'final' LIMIT 1) AS final,
            (SELECT count(*)::int FROM (
               SELECT 1 FROM messages m WHERE m.turn_id = t.id AND m.kind = 'tool'
               GROUP BY m.hop, m.tool_call_id HAVING count(*) > 1) d) AS duplicate_results,
            ARRAY(SELECT m.content FROM messages m WHERE m.turn_id = t.id AND m.kind = 'steer' ORDER BY m.id) AS steers,
            (SELECT min(m.id) FROM messages m WHERE m.turn_id = t.id) AS first_id,
            (SELECT max(m.id) FROM messages m WHERE m.turn_id = t.id) AS last_id
     FROM turns t WHERE t.id = ANY($1)`,
    [ids],
  );
  const stored = new Map(rows.map((r) => [r.id, r]));
  const problem = (
    plan: TurnPlan,
    id: string | undefined,
    what: string,
    counter: 'lost' | 'duplicated' | 'mismatched',
  ) => {
    verdict[counter] += 1;
    verdict.problems.push(
      `turn ${plan.index} (${plan.conversationId} ${plan.policy}, ${id ?? 'never started'}): ${what}`,
    );
  };

  const conversations = new Map<string, TurnPlan[]>();
  for (const plan of plans)
    conversations.set(plan.conversationId, [...(conversations.get(plan.conversationId) ?? []), plan]);
  for (const messages of conversations.values()) {
    const owners: Owner[] = [];
    const steered: { plan: TurnPlan; outcome: ClientOutcome; owner: Owner }[] = [];
    for (const plan of messages) {
      const outcome = outcomes[plan.index];
      for (const end of outcome?.gatewayEnds ?? []) {
        if (end === 'gateway.stream_failed') verdict.streamFailures += 1;
        else verdict.gatewayEnds.push(`turn ${plan.index}: ${end}`);
      }
      if (!outcome || outcome.state === undefined) {
        problem(plan, outcome?.requestTurnId, 'its start was never answered', 'lost');
        continue;
      }
      if (outcome.state === 'refused') {
        const named = outcome.refused?.runningTurnId;
        if (outcome.refused?.status !== 409 || plan.policy !== 'reject') {
          problem(
            plan,
            outcome.requestTurnId,
            `refused with ${outcome.refused?.status} under ${plan.policy}`,
            'mismatched',
          );
        } else if (!owners.some((o) => o.outcome.requestTurnId === named)) {
          problem(
            plan,
            outcome.requestTurnId,
            `409 names ${named}, not an earlier turn of the conversation`,
            'mismatched',
          );
        } else if (stored.has(outcome.requestTurnId)) {
          problem(plan, outcome.requestTurnId, 'refused, yet a turn was stored', 'mismatched');
        } else verdict.refused += 1;
        continue;
      }
      if (outcome.state === 'steered') {
        const owner = owners.at(-1);
        if (plan.policy !== 'steer' || !owner || outcome.turnId !== owner.outcome.requestTurnId) {
          problem(plan, outcome.turnId, `steered into ${outcome.turnId} under ${plan.policy}`, 'mismatched');
          continue;
        }
        owner.steers.push({ plan, outcome });
        steered.push({ plan, outcome, owner });
        continue;
      }
      if (outcome.turnId !== outcome.requestTurnId || !['running', 'queued', 'finished'].includes(outcome.state)) {
        problem(plan, outcome.turnId, `answered ${outcome.state} with another turn's stream`, 'mismatched');
        continue;
      }
      // (`finished`: a retried start, its first answer lost to a dropped connection, attached to its own ended turn.)
      if (plan.policy === 'interrupt') for (const o of owners) o.interruptible = true;
      owners.push({ plan, outcome, steers: [], interruptible: false });
    }

    for (const owner of owners) checkOwner(owner);
    for (const { plan, outcome, owner } of steered) {
      const row = stored.get(outcome.requestTurnId);
      const ownerRow = stored.get(owner.outcome.requestTurnId);
      if (row?.status !== 'steered' || row.steered_into !== owner.outcome.requestTurnId) {
        problem(
          plan,
          outcome.requestTurnId,
          `stored as ${row?.status ?? 'nothing'} into ${row?.steered_into}`,
          'mismatched',
        );
      } else if (outcome.terminal === undefined) {
        problem(plan, outcome.turnId, `no end reached the client (${endlessStream(outcome)})`, 'lost');
      } else if (outcome.duplicateEvents > 0) {
        problem(plan, outcome.turnId, `${outcome.duplicateEvents} events delivered twice`, 'duplicated');
      } else if (outcome.text !== (ownerRow?.final ?? '')) {
        problem(plan, outcome.turnId, `client text differs from the stored answer of ${outcome.turnId}`, 'mismatched');
      } else verdict.steered += 1;
    }
    // One at a time, in acceptance order: every stored message of a turn comes before any of the next one's.
    for (let i = 1; i < owners.length; i++) {
      const before = stored.get(owners[i - 1]!.outcome.requestTurnId);
      const after = stored.get(owners[i]!.outcome.requestTurnId);
      if (before?.last_id && after?.first_id && BigInt(before.last_id) > BigInt(after.first_id)) {
        problem(owners[i]!.plan, after.id, `stored before ${before.id} ended: out of order`, 'mismatched');
      }
    }
  }

  function checkOwner({ plan, outcome, steers, interruptible }: Owner): void {
    const row = stored.get(outcome.requestTurnId);
    const id = outcome.requestTurnId;
    if (!row || outcome.terminal === undefined) {
      problem(
        plan,
        id,
        `no end reached the client (status ${row?.status ?? 'not stored'}; ${endlessStream(outcome)})`,
        'lost',
      );
      return;
    }
    if (row.users !== 1 || row.finals > 1 || row.duplicate_results > 0 || outcome.duplicateEvents > 0) {
      problem(
        plan,
        id,
        `${row.users} user messages, ${row.finals} finals, ${row.duplicate_results} doubled tool results, ` +
          `${outcome.duplicateEvents} events delivered twice`,
        'duplicated',
      );
      return;
    }
    const steerTexts = steers.map((s) => s.plan.message);
    if (JSON.stringify(row.steers) !== JSON.stringify(steerTexts)) {
      problem(plan, id, `steered messages stored ${row.steers.length}, accepted ${steerTexts.length}`, 'mismatched');
      return;
    }
    const final = row.final ?? '';
    const candidates = answers([plan, ...steers.map((s) => s.plan)]);
    if (interruptible && row.status === 'cancelled' && row.finish_reason === 'interrupted') {
      if (outcome.terminal !== 'done') {
        problem(plan, id, `interrupted, but the client got ${outcome.terminal} ${outcome.errorType ?? ''}`, 'lost');
      } else if (outcome.text !== final) {
        problem(plan, id, `interrupted: ${differs(final, outcome.text)}`, 'mismatched');
      } else if (!candidates.some((c) => c.startsWith(final))) {
        problem(plan, id, `interrupted with ${JSON.stringify(final.slice(0, 80))}: not a prefix`, 'mismatched');
      } else {
        verdict.interrupted += 1;
      }
      return;
    }
    if (plan.expectFailure) {
      if (row.status === 'failed' && outcome.terminal === 'error' && row.finals === 0) verdict.failedExpected += 1;
      else problem(plan, id, `expected to fail, but ended ${row.status} (${outcome.terminal})`, 'mismatched');
      return;
    }
    if (row.status !== 'completed' || outcome.terminal !== 'done' || row.final === null) {
      problem(plan, id, `ended ${row.status} with ${outcome.terminal} ${outcome.errorType ?? ''}`.trim(), 'lost');
      return;
    }
    if (!candidates.includes(final) || outcome.text !== final) {
      problem(
        plan,
        id,
        candidates.includes(final)
          ? `answer ${differs(final, outcome.text)}`
          : `unexpected answer stored ${JSON.stringify(final.slice(0, 80))}`,
        'mismatched',
      );
      return;
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

/**
 * The answers a turn may end with when `chain` = [its own message, messages steered into it in order]: the model
 * answers the latest user message, so each message contributes its tool hops up to the boundary where the next one
 * joined (the turn's own at least one: a steer joins after a tool round), and the last one its whole answer.
 */
export function answers(chain: readonly TurnPlan[], own = true): string[] {
  const [head, ...rest] = chain;
  if (!head) return [];
  if (rest.length === 0) return [expectedAnswer(head)];
  const out: string[] = [];
  const toolHops = head.hops.length - 1;
  for (let k = own ? 1 : 0; k <= toolHops; k++) {
    const prefix = head.hops
      .slice(0, k)
      .map((h) => h.text)
      .join('');
    for (const tail of answers(rest, false)) out.push(prefix + tail);
  }
  return out;
}

/** Where what the client assembled parts from what was stored. */
function differs(stored: string, client: string): string {
  let at = 0;
  while (at < stored.length && stored[at] === client[at]) at++;
  const around = (text: string) => JSON.stringify(text.slice(Math.max(0, at - 20), at + 40));
  return `the client assembled ${client.length} chars, ${stored.length} stored; from char ${at}: stored ${around(stored)}, client ${around(client)}`;
}

/** What a client that never saw its end last had: to tell a stream the gateway stalled from one it refused. */
function endlessStream(outcome: ClientOutcome): string {
  const failures = outcome.resumeFailures.length > 0 ? `, failed resumes ${outcome.resumeFailures.join(' ')}` : '';
  return `last cursor ${outcome.lastCursor}, ${outcome.resumes} resumes${failures}, gateway ends ${outcome.gatewayEnds.join(' ') || 'none'}`;
}
