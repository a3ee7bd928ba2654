import { z } from 'zod';

/** The systems the bench streams the same model through. `turnflow_gateway` is turnflow read over HTTP/SSE. */
export const STREAM_SYSTEMS = ['turnflow', 'turnflow_gateway', 'direct', 'workflow_streams'] as const;
export type StreamSystem = (typeof STREAM_SYSTEMS)[number];

/** Concurrency levels of `delta_latency_ms`. */
export const CONCURRENCY_KEYS = ['c1', 'c50', 'c200'] as const;

/**
 * The phases of `start_path_ms`, in order along one turn's start: the caller's start → the model's request.
 * Each is the p50 over the c1 turns of one system; `null` where the system does not show it.
 */
export const START_PHASES = [
  /** TurnClient: start() → its update-with-start leaves the process (validation, catalog, claim). */
  'caller_before_temporal',
  /** The update-with-start's round trip at the caller (covers the next three). */
  'update_with_start_round_trip',
  /** Request left (gateway: POST sent) → the conversation's WorkflowExecutionStarted. */
  'to_conversation_started',
  /** Conversation started → its workflow task picked up by a worker. */
  'conversation_task_queued',
  /** That task in the worker: picked up → completed (update handled, child initiated). */
  'conversation_task_worker',
  /** Conversation's task completed → the turn's WorkflowExecutionStarted. */
  'child_start',
  /** Turn started → its first workflow task picked up. */
  'turn_task_queued',
  /** The turn's first workflow task in the worker, up to the completion that schedules the LLM activity. */
  'turn_task_worker',
  /** Of which: picked up → its local activities done (the SDK's marker times). */
  'turn_task_local_activities',
  /** LLM activity scheduled → started (eager dispatch: ~0). */
  'activity_scheduled_to_started',
  /** LLM activity started → its request reached the model (context load, writer open, request). */
  'activity_start_to_request',
  /** The caller's start → the model's request: the sum. */
  'total_to_model_request',
] as const;
export type StartPhase = (typeof START_PHASES)[number];

/** Token counts of `history_events`. */
export const HISTORY_TOKEN_KEYS = ['t100', 't1000', 't10000'] as const;

const Ms = z.number().nonnegative();
const MsMaybeNegative = z.number();
export const Percentiles = z.strictObject({ p50: Ms, p99: Ms });
const SignedPercentiles = z.strictObject({ p50: MsMaybeNegative, p99: MsMaybeNegative });

const ByConcurrency = z.strictObject({ c1: Percentiles, c50: Percentiles, c200: Percentiles });
const StreamCounts = z.strictObject({ c1: z.number().int(), c50: z.number().int(), c200: z.number().int() });
const HistoryCounts = z.strictObject({ t100: z.number().int(), t1000: z.number().int(), t10000: z.number().int() });
const RowCounts = z.strictObject({
  inserted: z.number().nonnegative(),
  updated: z.number().nonnegative(),
  deleted: z.number().nonnegative(),
  /** Statements that wrote at least one row. */
  write_statements: z.number().nonnegative(),
});
const Cpu = z.strictObject({
  worker: Ms,
  gateway: Ms,
  temporal: Ms,
  postgres: Ms,
  total: Ms,
});

/** p50 ms of each start phase of one system; `null` where that system does not show the phase. */
const StartPathRow = z.strictObject(
  Object.fromEntries(START_PHASES.map((p) => [p, z.number().nullable()])) as Record<
    StartPhase,
    z.ZodNullable<z.ZodNumber>
  >,
);
export type StartPathRow = z.infer<typeof StartPathRow>;

/** Temporal Cloud billable actions per turn, counted from histories plus the heartbeats the server received. */
const ActionsPerTurn = z.strictObject({
  /** The first turn of a new conversation, one LLM hop, no tools. */
  text_turn: z.number().nonnegative(),
  /** (a turn with N tool hops − a text turn) / N. */
  per_extra_tool_hop: z.number(),
  /** The text turn's actions by kind. */
  text_turn_by_kind: z.record(z.string(), z.number()),
});
export type ActionsPerTurn = z.infer<typeof ActionsPerTurn>;

/** The start-path section: also the whole of `bench/start-path.json` (`npm run bench -- --start-path`). */
export const StartPathResults = z.strictObject({
  start_path_ms: z.strictObject({ turnflow: StartPathRow, turnflow_gateway: StartPathRow }),
  temporal_actions_per_turn: z.strictObject({ turnflow: ActionsPerTurn }),
  /** Starts of one tenant sent at once through the gateway: POST → response headers. */
  burst_headers_ms: z.strictObject({
    turnflow_gateway: z.strictObject({ p50: Ms, p99: Ms, max: Ms, n: z.number().int().positive() }),
  }),
});

/**
 * `bench/results.json`: exactly the keys issue 9 lists (plus `meta`, how the figures were taken,
 * `streams_at_once` and `gateway_post_to_model_ms`). Validated before it is written, and by the unit test against a hand-made example.
 */
export const BenchResults = z.strictObject({
  meta: z.strictObject({
    mode: z.enum(['quick', 'full']),
    startedAt: z.string(),
    wallSeconds: z.number().nonnegative(),
    commit: z.string(),
    cpus: z.number().int().positive(),
    node: z.string(),
    chunksPerTurn: z.number().int().positive(),
    chunkPacingMs: z.number().int().nonnegative(),
    temporalFlags: z.array(z.string()),
    note: z.string(),
  }),
  /** Model sends a chunk → the caller receives it. */
  delta_latency_ms: z.strictObject({
    turnflow: ByConcurrency,
    turnflow_gateway: ByConcurrency,
    direct: ByConcurrency,
    workflow_streams: ByConcurrency,
  }),
  /**
   * The most turns streaming at one moment in each delta-latency run: a system that starts turns slowly never
   * has 200 streaming at once, whatever was asked, and its latency must be read with that.
   */
  streams_at_once: z.strictObject({
    turnflow: StreamCounts,
    turnflow_gateway: StreamCounts,
    direct: StreamCounts,
    workflow_streams: StreamCounts,
  }),
  /** Start → first delta at the caller, minus the model's own first-token delay (c1 turns). */
  ttft_overhead_ms: z.strictObject({
    turnflow: SignedPercentiles,
    turnflow_gateway: SignedPercentiles,
    direct: SignedPercentiles,
    workflow_streams: SignedPercentiles,
  }),
  /** Per extra tool hop, zero-latency model and tool. */
  hop_overhead_ms: z.strictObject({ turnflow: SignedPercentiles }),
  /** Workflow history events of one turn. */
  history_events: z.strictObject({ turnflow: HistoryCounts, workflow_streams: HistoryCounts }),
  /** Rows written per turn (every table of the app database). */
  db_rows_per_turn: z.strictObject({ turnflow: z.strictObject({ default: RowCounts, persistence_off: RowCounts }) }),
  throughput: z.strictObject({
    turnflow: z.strictObject({
      turns_per_s: z.number().nonnegative(),
      tokens_per_s: z.number().nonnegative(),
      concurrency: z.number().int().positive(),
    }),
  }),
  worker_rss_mb: z.strictObject({
    turnflow: z.strictObject({
      idle: Ms,
      peak: Ms,
      per_stream_above_idle: MsMaybeNegative,
      concurrent_turns: z.number(),
    }),
  }),
  pg_connections: z.strictObject({
    turnflow: z.strictObject({
      peak_total: z.number().int().nonnegative(),
      peak_worker: z.number().int().nonnegative(),
      concurrent_turns: z.number(),
    }),
  }),
  cpu_ms_per_turn: z.strictObject({ turnflow: Cpu }),
  turn_start_rate: z.strictObject({
    turnflow: z.strictObject({
      turns_per_s: z.number().nonnegative(),
      started: z.number().int().positive(),
      last_reached_model_s: z.number().nonnegative(),
    }),
  }),
  gateway_post_to_model_ms: z.strictObject({ turnflow_gateway: Percentiles }),
  ...StartPathResults.shape,
});
export type BenchResults = z.infer<typeof BenchResults>;

/** Validates results; the message lists every problem. */
export function parseResults(input: unknown): BenchResults {
  const parsed = BenchResults.safeParse(input);
  if (!parsed.success) throw new Error(`bench results do not match the schema:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
