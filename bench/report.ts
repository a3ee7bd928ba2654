import type { BenchResults, StartPathResults } from './results';
import { CONCURRENCY_KEYS, START_PHASES, STREAM_SYSTEMS } from './results';
import type { z } from 'zod';

const pp = (v: { p50: number; p99: number }) => `${v.p50} / ${v.p99}`;

/** The figures as rows `[figure, turnflow, turnflow_gateway, direct, workflow_streams]`, `—` where none applies. */
export function figureRows(r: BenchResults): string[][] {
  const rows: string[][] = [];
  for (const level of CONCURRENCY_KEYS) {
    rows.push([`delta latency ${level}, ms p50 / p99`, ...STREAM_SYSTEMS.map((s) => pp(r.delta_latency_ms[s][level]))]);
  }
  rows.push([
    'turns streaming at once (peak), c1 / c50 / c200',
    ...STREAM_SYSTEMS.map((s) => CONCURRENCY_KEYS.map((c) => r.streams_at_once[s][c]).join(' / ')),
  ]);
  rows.push(['TTFT overhead, ms p50 / p99', ...STREAM_SYSTEMS.map((s) => pp(r.ttft_overhead_ms[s]))]);
  rows.push(['POST → model request, ms p50 / p99', '—', pp(r.gateway_post_to_model_ms.turnflow_gateway), '—', '—']);
  rows.push(['each extra tool hop, ms p50 / p99', pp(r.hop_overhead_ms.turnflow), '—', '—', '—']);
  const h = r.history_events;
  rows.push([
    'history events at 100 / 1,000 / 10,000 tokens',
    `${h.turnflow.t100} / ${h.turnflow.t1000} / ${h.turnflow.t10000}`,
    '—',
    '—',
    `${h.workflow_streams.t100} / ${h.workflow_streams.t1000} / ${h.workflow_streams.t10000}`,
  ]);
  const rows_ = r.db_rows_per_turn.turnflow;
  const rw = (x: { inserted: number; updated: number; deleted: number; write_statements: number }) =>
    `${x.inserted} / ${x.updated} / ${x.deleted} (${x.write_statements})`;
  rows.push(['db rows per turn ins / upd / del (write statements), default', rw(rows_.default), '—', '—', '—']);
  rows.push(['same, persistence off', rw(rows_.persistence_off), '—', '—', '—']);
  const t = r.throughput.turnflow;
  rows.push([
    `throughput, turns/s · tokens/s (${t.concurrency} at once)`,
    `${t.turns_per_s} · ${t.tokens_per_s}`,
    '—',
    '—',
    '—',
  ]);
  const m = r.worker_rss_mb.turnflow;
  rows.push([
    `worker RSS at ${m.concurrent_turns} turns, MB idle / peak (per stream)`,
    `${m.idle} / ${m.peak} (${m.per_stream_above_idle})`,
    '—',
    '—',
    '—',
  ]);
  const c = r.pg_connections.turnflow;
  rows.push([
    `Postgres connections at ${c.concurrent_turns} turns, all / worker`,
    `${c.peak_total} / ${c.peak_worker}`,
    '—',
    '—',
    '—',
  ]);
  const cpu = r.cpu_ms_per_turn.turnflow;
  rows.push([
    'CPU ms per turn: worker / gateway / Temporal / Postgres = total',
    `${cpu.worker} / ${cpu.gateway} / ${cpu.temporal} / ${cpu.postgres} = ${cpu.total}`,
    '—',
    '—',
    '—',
  ]);
  const a = r.temporal_actions_per_turn.turnflow;
  rows.push([
    'Temporal billable actions: 1-hop text turn / each extra tool hop',
    `${a.text_turn} / ${a.per_extra_tool_hop}`,
    '—',
    '—',
    '—',
  ]);
  const b = r.burst_headers_ms.turnflow_gateway;
  rows.push([`${b.n} starts of one tenant at once: ms to headers p50 / p99`, '—', pp(b), '—', '—']);
  const s = r.turn_start_rate.turnflow;
  rows.push([
    `turn start rate, ${s.started} at once: turns/s (last reached the model at)`,
    `${s.turns_per_s} (${s.last_reached_model_s} s)`,
    '—',
    '—',
    '—',
  ]);
  return rows;
}

const HEADER = ['figure', ...STREAM_SYSTEMS];

type StartPath = z.infer<typeof StartPathResults>;
const START_HEADER = ['start phase, p50 ms', 'turnflow', 'turnflow_gateway'];

/** `start_path_ms` as rows `[phase, turnflow, turnflow_gateway]`, then the actions and the burst. */
export function startPathRows(r: StartPath): string[][] {
  const cell = (v: number | null) => (v === null ? '—' : String(v));
  const rows = START_PHASES.map((p) => [
    p,
    cell(r.start_path_ms.turnflow[p]),
    cell(r.start_path_ms.turnflow_gateway[p]),
  ]);
  const a = r.temporal_actions_per_turn.turnflow;
  const kinds = Object.entries(a.text_turn_by_kind)
    .filter(([k, v]) => k !== 'total' && v > 0)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  rows.push(['actions per 1-hop text turn (by kind)', `${a.text_turn} (${kinds})`, '—']);
  rows.push(['actions per extra tool hop', String(a.per_extra_tool_hop), '—']);
  const b = r.burst_headers_ms.turnflow_gateway;
  rows.push([`burst of ${b.n}: headers p50 / p99 / max`, '—', `${b.p50} / ${b.p99} / ${b.max}`]);
  return rows;
}

/** The start-path figures as a Markdown table. */
export function startPathMarkdown(r: StartPath): string {
  const lines = [START_HEADER, START_HEADER.map(() => '---'), ...startPathRows(r)].map(
    (row) => `| ${row.join(' | ')} |`,
  );
  return lines.join('\n');
}

/** The start-path figures as plain text, for the terminal. */
export function startPathText(r: StartPath): string {
  return padded([START_HEADER, ...startPathRows(r)]);
}

function padded(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n');
}

/** A Markdown table of the figures. */
export function markdownTable(r: BenchResults): string {
  const lines = [HEADER, HEADER.map(() => '---'), ...figureRows(r)].map((row) => `| ${row.join(' | ')} |`);
  return lines.join('\n');
}

/** The figures side by side as plain text, for the terminal. */
export function textTable(r: BenchResults): string {
  return padded([HEADER, ...figureRows(r)]);
}

/** The generated section of BENCHMARKS.md (between the markers), from one run. */
export function benchmarksSection(r: BenchResults, command: string, chartFile: string): string {
  const m = r.meta;
  return [
    `Latest run: \`${command}\` (${m.mode}) at ${m.startedAt} on commit \`${m.commit}\`, ${m.cpus} CPUs, Node ${m.node},`,
    `${m.chunksPerTurn} chunks per turn at ${m.chunkPacingMs} ms pacing, ${Math.round(m.wallSeconds)} s wall.`,
    m.temporalFlags.length
      ? `Temporal dev server flags: \`${m.temporalFlags.join(' ')}\`.`
      : 'Temporal dev server: default flags.',
    m.note,
    '',
    markdownTable(r),
    '',
    startPathMarkdown(r),
    '',
    `![delta latency and TTFT overhead per system](${chartFile})`,
  ].join('\n');
}

export const SECTION_START = '<!-- bench:latest:start (written by npm run bench) -->';
export const SECTION_END = '<!-- bench:latest:end -->';

/** `doc` with its generated section replaced by `section` (appended when it has none). */
export function replaceSection(doc: string, section: string): string {
  const block = `${SECTION_START}\n${section}\n${SECTION_END}`;
  const start = doc.indexOf(SECTION_START);
  const end = doc.indexOf(SECTION_END);
  if (start === -1 || end === -1 || end < start) return `${doc.trimEnd()}\n\n${block}\n`;
  return doc.slice(0, start) + block + doc.slice(end + SECTION_END.length);
}
