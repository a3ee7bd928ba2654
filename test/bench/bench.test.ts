import assert from 'node:assert/strict';
import { chartSvg } from '../../bench/chart';
import { peakStreaming } from '../../bench/metrics';
import { markdownTable, replaceSection, SECTION_END, SECTION_START } from '../../bench/report';
import { BenchResults, parseResults, START_PHASES } from '../../bench/results';
import { median, percentile, summarize } from '../../bench/stats';
import { keyOfMessage, messageFor, tokensIn, turnText } from '../../bench/tokens';

const pp = (p50: number, p99: number) => ({ p50, p99 });
const byLevel = () => ({ c1: pp(1, 2), c50: pp(3, 4), c200: pp(5, 6) });
const rows = { inserted: 12, updated: 3, deleted: 9, write_statements: 7 };

/** A complete, hand-written result file: every key issue 9 asks for. */
function example(): BenchResults {
  return {
    meta: {
      mode: 'quick',
      startedAt: '2026-12-01T12:00:00.000Z',
      wallSeconds: 170,
      commit: 'abc1234',
      cpus: 2,
      node: '20.20.2',
      chunksPerTurn: 20,
      chunkPacingMs: 20,
      temporalFlags: [],
      note: 'shared machine',
    },
    delta_latency_ms: {
      turnflow: byLevel(),
      turnflow_gateway: byLevel(),
      direct: byLevel(),
      workflow_streams: byLevel(),
    },
    streams_at_once: {
      turnflow: { c1: 1, c50: 50, c200: 30 },
      turnflow_gateway: { c1: 1, c50: 50, c200: 30 },
      direct: { c1: 1, c50: 50, c200: 200 },
      workflow_streams: { c1: 1, c50: 50, c200: 120 },
    },
    ttft_overhead_ms: {
      turnflow: pp(90, 120),
      turnflow_gateway: pp(95, 130),
      direct: pp(1, 2),
      workflow_streams: pp(-1, 5),
    },
    hop_overhead_ms: { turnflow: pp(160, 200) },
    history_events: {
      turnflow: { t100: 25, t1000: 25, t10000: 25 },
      workflow_streams: { t100: 29, t1000: 29, t10000: 37 },
    },
    db_rows_per_turn: { turnflow: { default: rows, persistence_off: { ...rows, write_statements: 5 } } },
    throughput: { turnflow: { turns_per_s: 4, tokens_per_s: 400, concurrency: 50 } },
    worker_rss_mb: { turnflow: { idle: 290, peak: 680, per_stream_above_idle: 1.95, concurrent_turns: 200 } },
    pg_connections: { turnflow: { peak_total: 130, peak_worker: 120, concurrent_turns: 200 } },
    cpu_ms_per_turn: { turnflow: { worker: 100, gateway: 35, temporal: 120, postgres: 40, total: 295 } },
    turn_start_rate: { turnflow: { turns_per_s: 6, started: 200, last_reached_model_s: 33 } },
    gateway_post_to_model_ms: { turnflow_gateway: pp(150, 200) },
    start_path_ms: { turnflow: startRow(1), turnflow_gateway: { ...startRow(2), caller_before_temporal: null } },
    temporal_actions_per_turn: {
      turnflow: { text_turn: 11, per_extra_tool_hop: 6, text_turn_by_kind: { workflowStarts: 1, heartbeats: 2 } },
    },
    burst_headers_ms: { turnflow_gateway: { p50: 900, p99: 1900, max: 1950, n: 100 } },
  };
}

/** Every start phase at `ms`. */
function startRow(ms: number) {
  return Object.fromEntries(START_PHASES.map((p) => [p, ms])) as Record<(typeof START_PHASES)[number], number | null>;
}

describe('bench: pure parts', () => {
  describe('percentiles', () => {
    it('takes the nearest rank: the smallest value with at least p% at or below it', () => {
      const values = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6]; // 1..10, unsorted
      assert.equal(percentile(values, 50), 5);
      assert.equal(percentile(values, 99), 10);
      assert.equal(percentile(values, 10), 1);
      assert.equal(percentile(values, 0), 1);
      assert.equal(median([3, 1, 2]), 2);
    });

    it('summarizes to p50 and p99 rounded to hundredths, and is NaN without values', () => {
      assert.deepEqual(summarize([1.234, 2.345, 3.456]), { p50: 2.35, p99: 3.46 });
      assert.ok(Number.isNaN(percentile([], 50)));
      assert.throws(() => percentile([1], 101), RangeError);
    });
  });

  describe('chunk tokens', () => {
    it('names every chunk and finds the names again in coalesced text', () => {
      const text = turnText('c50-tf-3', 3);
      assert.equal(text, ' Kc50-tf-3.0 Kc50-tf-3.1 Kc50-tf-3.2');
      assert.deepEqual(tokensIn(text.slice(0, 24)), ['c50-tf-3.0', 'c50-tf-3.1']);
      assert.equal(keyOfMessage(messageFor('hop3-7')), 'hop3-7');
      assert.equal(keyOfMessage('bench ../etc'), undefined);
      assert.throws(() => turnText('Bad Key', 1));
    });
  });

  describe('result file', () => {
    it('accepts a complete result', () => {
      assert.deepEqual(parseResults(example()), example());
    });

    it('refuses a result missing a system, a concurrency level or a figure, naming the path', () => {
      const noWs = example() as unknown as { delta_latency_ms: Record<string, unknown> };
      delete noWs.delta_latency_ms['workflow_streams'];
      assert.throws(() => parseResults(noWs), /delta_latency_ms\.workflow_streams/);

      const noC200 = example() as unknown as { delta_latency_ms: { direct: Record<string, unknown> } };
      delete noC200.delta_latency_ms.direct['c200'];
      assert.throws(() => parseResults(noC200), /delta_latency_ms\.direct\.c200/);

      const noRate = example() as unknown as Record<string, unknown>;
      delete noRate['turn_start_rate'];
      assert.throws(() => parseResults(noRate), /turn_start_rate/);
    });

    it('refuses a figure that was never measured (NaN) and keys nobody asked for', () => {
      const nan = example();
      nan.hop_overhead_ms.turnflow.p50 = NaN;
      assert.throws(() => parseResults(nan), /hop_overhead_ms\.turnflow\.p50/);
      assert.throws(() => parseResults({ ...example(), extra: 1 }), /extra/);
    });

    it('lists exactly the top-level keys of issues 9 and 17', () => {
      assert.deepEqual(Object.keys(BenchResults.shape).sort(), [
        'burst_headers_ms',
        'cpu_ms_per_turn',
        'db_rows_per_turn',
        'delta_latency_ms',
        'gateway_post_to_model_ms',
        'history_events',
        'hop_overhead_ms',
        'meta',
        'pg_connections',
        'start_path_ms',
        'streams_at_once',
        'temporal_actions_per_turn',
        'throughput',
        'ttft_overhead_ms',
        'turn_start_rate',
        'worker_rss_mb',
      ]);
    });
  });

  describe('streams at once', () => {
    it('counts the turns whose first delta → end intervals overlap most', () => {
      const turn = (firstDeltaAt: number, endAt: number) => ({
        key: 'k',
        startAt: 0,
        firstDeltaAt,
        endAt,
        received: [],
      });
      // [0,10] [5,15] [12,20] [30,40]: at most two overlap; a turn ending as another begins does not overlap it.
      assert.equal(peakStreaming([turn(0, 10), turn(5, 15), turn(12, 20), turn(30, 40)]), 2);
      assert.equal(peakStreaming([turn(0, 10), turn(10, 20)]), 1);
      assert.equal(peakStreaming([]), 0);
    });
  });

  describe('BENCHMARKS.md section', () => {
    it('replaces only the generated section and keeps the hand-written text around it', () => {
      const doc = `# Benchmarks\n\nbefore text\n\n${SECTION_START}\nold\n${SECTION_END}\n\nafter text\n`;
      const out = replaceSection(doc, 'new');
      assert.equal(out, `# Benchmarks\n\nbefore text\n\n${SECTION_START}\nnew\n${SECTION_END}\n\nafter text\n`);
      assert.equal(replaceSection('# B\n', 'x'), `# B\n\n${SECTION_START}\nx\n${SECTION_END}\n`);
    });

    it('puts each figure of each system in the table and the chart', () => {
      const table = markdownTable(example());
      assert.match(table, /\| delta latency c200, ms p50 \/ p99 \| 5 \/ 6 \| 5 \/ 6 \| 5 \/ 6 \| 5 \/ 6 \|/);
      assert.match(
        table,
        /\| history events at 100 \/ 1,000 \/ 10,000 tokens \| 25 \/ 25 \/ 25 \| — \| — \| 29 \/ 29 \/ 37 \|/,
      );
      const svg = chartSvg(example());
      for (const name of ['turnflow', 'turnflow_gateway', 'direct', 'workflow_streams'])
        assert.ok(svg.includes(`>${name}<`));
    });
  });
});
