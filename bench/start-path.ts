import type { temporal as proto } from '@temporalio/proto';
import { WorkflowNotFoundError } from '@temporalio/common';
import { conversationWorkflowIdFor } from '../common';
import { countActions, conversationStart, turnStart, type ActionCount } from './histories';
import type { BenchStack } from './stack';
import { TENANT, TENANT_TOKEN } from './stack';
import { START_PHASES, type ActionsPerTurn, type BenchResults, type StartPathRow, type StartPhase } from './results';
import { median, round, summarize, type Percentiles } from './stats';
import type { System, TurnRecord } from './systems/types';
import { messageFor } from './tokens';

type Log = (line: string) => void;

/** Milliseconds of each phase of one turn, from the caller's marks, the model's, and the two histories. */
async function phasesOf(stack: BenchStack, record: TurnRecord): Promise<Partial<Record<StartPhase, number>>> {
  const turnId = record.workflowId!;
  const convId = conversationWorkflowIdFor(TENANT, record.key);
  const [convHistory, turnHistory] = await Promise.all([
    historyOrEmpty(stack, convId),
    stack.temporal.workflow.getHandle(turnId).fetchHistory(),
  ]);
  const conv = conversationStart(convHistory, turnId);
  const turn = turnStart(turnHistory);
  const requestAt = stack.model.firstRequestAt.get(record.key);
  const out: Partial<Record<StartPhase, number>> = {};
  const set = (phase: StartPhase, from: number | undefined, to: number | undefined) => {
    if (from !== undefined && to !== undefined && Number.isFinite(from) && Number.isFinite(to)) out[phase] = to - from;
  };
  const sent = record.temporal?.sentAt ?? record.startAt;
  if (record.temporal) {
    set('caller_before_temporal', record.startAt, record.temporal.sentAt);
    set('update_with_start_round_trip', record.temporal.sentAt, record.temporal.answeredAt);
  }
  set('to_conversation_started', sent, conv?.startedAt);
  set('conversation_task_queued', conv?.startedAt ?? conv?.taskScheduledAt, conv?.taskStartedAt);
  set('conversation_task_worker', conv?.taskStartedAt, conv?.childInitiatedAt);
  set('child_start', conv?.childInitiatedAt, turn?.startedAt);
  set('turn_task_queued', turn?.startedAt, turn?.taskStartedAt);
  set('turn_task_worker', turn?.taskStartedAt, turn?.taskCompletedAt);
  set('turn_task_local_activities', turn?.taskStartedAt, turn?.localActivitiesDoneAt);
  set('activity_scheduled_to_started', turn?.activityScheduledAt, turn?.activityStartedAt);
  set('activity_start_to_request', turn?.activityStartedAt, requestAt);
  set('total_to_model_request', record.startAt, requestAt);
  return out;
}

/** A workflow's history; empty when it never ran (a turn started directly has no conversation workflow). */
async function historyOrEmpty(stack: BenchStack, workflowId: string): Promise<proto.api.history.v1.IHistory> {
  try {
    return await stack.temporal.workflow.getHandle(workflowId).fetchHistory();
  } catch (err: unknown) {
    // fetchHistory passes the server's NOT_FOUND (gRPC code 5) through as it is.
    if (err instanceof WorkflowNotFoundError || (err as { code?: unknown }).code === 5) return { events: [] };
    throw err;
  }
}

/** `start_path_ms` of one system: the p50 of each phase over `records`. */
export async function startPathRow(stack: BenchStack, records: readonly TurnRecord[]): Promise<StartPathRow> {
  const samples = await Promise.all(records.map((r) => phasesOf(stack, r)));
  const row = {} as StartPathRow;
  for (const phase of START_PHASES) {
    const values = samples.flatMap((s) => (s[phase] === undefined ? [] : [s[phase]]));
    row[phase] = values.length === 0 ? null : round(median(values));
  }
  return row;
}

/** Actions of one turn: its conversation's history and its own (the bench's conversations hold one turn each). */
async function actionsOfTurn(stack: BenchStack, record: TurnRecord): Promise<ActionCount> {
  const turnHandle = stack.temporal.workflow.getHandle(record.workflowId!);
  await turnHandle.result();
  const [conv, turn] = await Promise.all([
    historyOrEmpty(stack, conversationWorkflowIdFor(TENANT, record.key)),
    turnHandle.fetchHistory(),
  ]);
  const a = countActions(conv);
  const b = countActions(turn);
  const sum = {} as ActionCount;
  for (const k of Object.keys(a) as (keyof ActionCount)[]) sum[k] = a[k] + b[k];
  return sum;
}

/** `RecordActivityTaskHeartbeat` requests the dev server has answered so far (its Prometheus counter). */
export async function heartbeatsReceived(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('service_requests{') || !line.includes('operation="RecordActivityTaskHeartbeat"')) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return sum;
}

/**
 * `temporal_actions_per_turn`: `n` text turns and `n` turns with `hops` tool hops, one at a time, each the first
 * turn of a new conversation; actions counted from their histories plus the heartbeats the server received.
 */
export async function actionsPhase(
  stack: BenchStack,
  turnflow: System,
  n: number,
  hops: number,
): Promise<ActionsPerTurn> {
  const measure = async (prefix: string, toolHops: number) => {
    const totals: number[] = [];
    let byKind: Record<string, number> = {};
    for (let i = 0; i < n; i += 1) {
      const key = `${prefix}-${i}`;
      stack.model.plan(key, { chunks: 20, delayMs: 20, toolHops });
      const before = await heartbeatsReceived(stack.temporalMetricsUrl);
      const [record] = await turnflow.run([key], {
        sequential: true,
        ...(toolHops > 0 ? { tools: ['calculate'] } : {}),
      });
      const actions = await actionsOfTurn(stack, record!);
      const heartbeats = (await heartbeatsReceived(stack.temporalMetricsUrl)) - before;
      totals.push(actions.total + heartbeats);
      byKind = { ...actions, heartbeats, total: actions.total + heartbeats };
    }
    return { value: median(totals), byKind };
  };
  const text = await measure('act-text', 0);
  const tools = await measure(`act-hops${hops}`, hops);
  stack.model.clear();
  return {
    text_turn: text.value,
    per_extra_tool_hop: round((tools.value - text.value) / hops, 2),
    text_turn_by_kind: text.byKind,
  };
}

/** `burst_headers_ms`: `n` starts of one tenant at once through the gateway; POST → response headers. */
export async function burstPhase(
  stack: BenchStack,
  n: number,
  log: Log,
): Promise<Percentiles & { max: number; n: number }> {
  const keys = Array.from({ length: n }, (_, i) => `burst-${i}`);
  for (const key of keys) stack.model.plan(key, { chunks: 5, delayMs: 0 });
  const waits = await Promise.all(
    keys.map(async (key) => {
      const t0 = performance.now();
      const res = await fetch(`${stack.gatewayUrl}/v1/conversations/${key}/turns`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream',
          authorization: `Bearer ${TENANT_TOKEN}`,
        },
        body: JSON.stringify({ requestId: 'r', message: messageFor(key), tools: [] }),
      });
      const waited = performance.now() - t0;
      if (!res.ok) throw new Error(`burst POST answered ${res.status}: ${await res.text()}`);
      await res.text(); // read to the end: every turn finishes before the next phase
      return waited;
    }),
  );
  stack.model.clear();
  const s = summarize(waits);
  log(`bench: burst of ${n}: headers p50 ${s.p50} ms, p99 ${s.p99} ms`);
  return { ...s, max: round(Math.max(...waits)), n };
}

/** What the start-path section runs. */
export interface StartPathCounts {
  /** c1 turns per system, one after another. */
  turns: number;
  /** Turns per kind (text, tool hops) whose actions are counted. */
  actionTurns: number;
  hops: number;
  /** Starts sent at once through the gateway. */
  burst: number;
}

/** `start_path_ms`, `temporal_actions_per_turn` and `burst_headers_ms`. */
export async function startPathPhases(
  stack: BenchStack,
  systems: { turnflow: System; turnflow_gateway: System },
  counts: StartPathCounts,
  log: Log,
): Promise<Pick<BenchResults, 'start_path_ms' | 'temporal_actions_per_turn' | 'burst_headers_ms'>> {
  const rows = {} as BenchResults['start_path_ms'];
  for (const name of ['turnflow', 'turnflow_gateway'] as const) {
    const keys = Array.from({ length: counts.turns }, (_, i) => `sp-${name === 'turnflow' ? 'tf' : 'gw'}-${i}`);
    for (const key of keys) stack.model.plan(key, { chunks: 5, delayMs: 20 });
    const records = await systems[name].run(keys, { sequential: true });
    rows[name] = await startPathRow(stack, records);
    stack.model.clear();
    log(`bench: start path ${name}: ${START_PHASES.map((p) => `${p} ${rows[name][p] ?? '—'}`).join(', ')}`);
  }
  const actions = await actionsPhase(stack, systems.turnflow, counts.actionTurns, counts.hops);
  log(`bench: actions per text turn ${actions.text_turn}, per extra tool hop ${actions.per_extra_tool_hop}`);
  const burst = await burstPhase(stack, counts.burst, log);
  return {
    start_path_ms: rows,
    temporal_actions_per_turn: { turnflow: actions },
    burst_headers_ms: { turnflow_gateway: burst },
  };
}
