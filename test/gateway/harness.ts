import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import OpenAI from 'openai';
import pg from 'pg';
import pino from 'pino';
import { builtinTools, createToolRegistry } from '../../activities/tools';
import { createTurnWorker } from '../../worker/create-worker';
import { DailyTokenBudgets, TurnClient } from '../../client';
import { TurnEvent } from '../../common';
import {
  createGatewayApp,
  DEFAULT_LIMITS,
  hashToken,
  startGatewayServer,
  type JwtTenants,
  TenantDirectory,
  type GatewayServer,
  type LimitOptions,
} from '../../gateway';
import type { GatewayMetrics } from '../../metrics';
import type { Tracing } from '../../tracing';
import { clientTracingInterceptors } from '../../tracing/client';
import { uniqueId, type TestEnv } from '../support';
import {
  storedEvents,
  TEST_MODEL,
  turnHarness,
  workflowBundle,
  IN_PROCESS_WORKFLOWS,
  type TurnHarness,
} from '../turn/harness';

/** Tokens of the two tenants every gateway test has. */
export const TOKENS = { acme: 'token-of-acme', globex: 'token-of-globex' } as const;

/** A gateway on a free port in front of a {@link TurnHarness}; requests go over real HTTP. */
export interface GatewayHarness {
  h: TurnHarness;
  turns: TurnClient;
  /** The gateway's own pool (the worker uses the harness's). */
  pool: pg.Pool;
  server: GatewayServer;
  /** Log records the gateway wrote (level debug and up). */
  logs: Record<string, unknown>[];
  /** `fetch` against the gateway as `tenant` (default acme); `token: null` sends no Authorization header. */
  request(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>;
  /** `POST /v1/conversations/:conversation/turns` with a JSON body. */
  postTurn(
    body: Record<string, unknown>,
    opts?: { conversationId?: string; token?: string; signal?: AbortSignal },
  ): Promise<Response>;
  close(): Promise<void>;
}

export async function gatewayHarness(
  opts: {
    keepAliveMs?: number;
    poolMax?: number;
    writeTimeoutMs?: number;
    limits?: Partial<LimitOptions>;
    startTimeoutMs?: number;
    /** `TURNFLOW_TENANT_DAILY_TOKENS`. */
    dailyTokens?: string;
    /** JWT tenants beside the static tokens. */
    jwt?: JwtTenants;
    metrics?: GatewayMetrics;
    /** A span per request, and the turns' workflows started in its trace (a Temporal client with the interceptor). */
    tracing?: Tracing;
    /** `TURNFLOW_DIRECT_START`: an idle conversation's turn starts directly. @default true (the gateway's default) */
    directStart?: boolean;
  } = {},
): Promise<GatewayHarness> {
  const h = await turnHarness();
  const temporal = opts.tracing
    ? new Client({ connection: h.client.connection, interceptors: clientTracingInterceptors() })
    : h.client;
  const pool = new pg.Pool({ connectionString: h.env.databaseUrl, max: opts.poolMax ?? 20 });
  const turns = new TurnClient({
    temporal,
    pool,
    databaseUrl: h.env.databaseUrl,
    taskQueue: h.taskQueue,
    ...(opts.startTimeoutMs !== undefined ? { startTimeoutMs: opts.startTimeoutMs } : {}),
    ...(opts.dailyTokens !== undefined ? { dailyTokens: DailyTokenBudgets.parse(opts.dailyTokens) } : {}),
    ...(opts.directStart !== undefined ? { directStart: opts.directStart } : {}),
  });
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      callback();
    },
  });
  const tenants = new TenantDirectory([
    { tenant: 'acme', hash: hashToken(TOKENS.acme) },
    { tenant: 'globex', hash: hashToken(TOKENS.globex) },
  ]);
  const app = createGatewayApp({
    turns,
    pool,
    tenants,
    ...(opts.keepAliveMs !== undefined ? { keepAliveMs: opts.keepAliveMs } : {}),
    ...(opts.writeTimeoutMs !== undefined ? { writeTimeoutMs: opts.writeTimeoutMs } : {}),
    limits: { ...DEFAULT_LIMITS, ...opts.limits },
    ...(opts.jwt ? { jwt: opts.jwt } : {}),
    temporal,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    ...(opts.tracing ? { tracer: opts.tracing.tracer } : {}),
    logger: pino({ level: 'debug' }, sink),
  });
  const server = await startGatewayServer(app);
  const request: GatewayHarness['request'] = (path, init = {}) => {
    const { token = TOKENS.acme, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (token !== null) headers.set('authorization', `Bearer ${token}`);
    return fetch(`${server.url}${path}`, { ...rest, headers });
  };
  return {
    h,
    turns,
    pool,
    server,
    logs,
    request,
    postTurn: (body, o = {}) =>
      request(`/v1/conversations/${o.conversationId ?? h.conversationId}/turns`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ requestId: uniqueId('req'), message: 'hello', ...body }),
        ...(o.token !== undefined ? { token: o.token } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      }),
    async close() {
      await server.close(0);
      await turns.close();
      await pool.end();
      await h.close();
    },
  };
}

/** One Server-Sent Events frame: an event or a comment line. */
export type SseFrame =
  | { kind: 'event'; id: string | undefined; event: string | undefined; data: string }
  | { kind: 'comment'; text: string };

/** Parses an SSE response body frame by frame (per the WHATWG event-stream grammar, minus `retry`). */
export async function* sseFrames(response: Response): AsyncGenerator<SseFrame> {
  if (!response.body) throw new Error('the response has no body');
  const decoder = new TextDecoder();
  let buffer = '';
  let frame: { id?: string; event?: string; data: string[] } = { data: [] };
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let nl = buffer.search(/\r\n|\r|\n/); nl >= 0; nl = buffer.search(/\r\n|\r|\n/)) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(buffer.startsWith('\r\n', nl) ? nl + 2 : nl + 1);
      if (line === '') {
        if (frame.data.length > 0 || frame.event !== undefined || frame.id !== undefined) {
          yield { kind: 'event', id: frame.id, event: frame.event, data: frame.data.join('\n') };
        }
        frame = { data: [] };
      } else if (line.startsWith(':')) {
        yield { kind: 'comment', text: line.slice(1).trim() };
      } else {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') frame.data.push(value);
        else if (field === 'event') frame.event = value;
        else if (field === 'id') frame.id = value;
      }
    }
  }
}

/** A parsed SSE event: the raw frame plus the turn event it carries (`undefined` for a gateway-made final error). */
export interface SseEvent {
  id: string | undefined;
  event: string | undefined;
  data: Record<string, unknown>;
  turnEvent: TurnEvent | undefined;
}

/** Reads events of an SSE response until it ends or `until` returns true (comments are counted). */
export async function readEvents(
  response: Response,
  opts: { until?: (event: SseEvent, all: SseEvent[]) => boolean; onComment?: (text: string) => void } = {},
): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  for await (const frame of sseFrames(response)) {
    if (frame.kind === 'comment') {
      opts.onComment?.(frame.text);
      continue;
    }
    const data = JSON.parse(frame.data) as Record<string, unknown>;
    const parsed = TurnEvent.safeParse(data);
    const event: SseEvent = {
      id: frame.id,
      event: frame.event,
      data,
      turnEvent: parsed.success ? parsed.data : undefined,
    };
    events.push(event);
    if (opts.until?.(event, events)) break;
  }
  return events;
}

/** Row counts of the tables a turn writes. */
export async function tableCounts(pool: pg.Pool): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ conversations: string; turns: string; messages: string; turn_events: string }>(
    `SELECT (SELECT count(*) FROM conversations) AS conversations, (SELECT count(*) FROM turns) AS turns,
            (SELECT count(*) FROM messages) AS messages, (SELECT count(*) FROM turn_events) AS turn_events`,
  );
  const row = rows[0]!;
  return {
    conversations: Number(row.conversations),
    turns: Number(row.turns),
    messages: Number(row.messages),
    turn_events: Number(row.turn_events),
  };
}

/**
 * Runs a worker on `h`'s task queue with its own pool, sized for `maxActivities` concurrent activities (an LLM
 * activity holds its stream writer's connection while it stores the hop message on a second one, so the pool
 * must hold two connections per concurrent activity; see the report on the activities' pool use).
 */
export async function withBoundedWorker<T>(
  h: TurnHarness,
  fn: () => Promise<T>,
  opts: { maxActivities: number },
): Promise<T> {
  const pool = new pg.Pool({ connectionString: h.env.databaseUrl, max: 2 * opts.maxActivities + 4 });
  const connection = await NativeConnection.connect({ address: h.env.temporal.address });
  try {
    const worker = await createTurnWorker({
      connection,
      taskQueue: h.taskQueue,
      workflowBundle: await workflowBundle(),
      debugMode: IN_PROCESS_WORKFLOWS,
      maxConcurrentActivityTaskExecutions: opts.maxActivities,
      deps: {
        pool,
        openai: new OpenAI({ baseURL: h.llm.baseURL, apiKey: 'test-key', maxRetries: 0 }),
        tools: createToolRegistry(builtinTools()),
        models: { default: TEST_MODEL, allowed: [TEST_MODEL] },
        logger: pino({ level: 'silent' }),
        llmIdleTimeoutMs: 30_000,
      },
    });
    return await worker.runUntil(fn());
  } finally {
    await connection.close();
    await pool.end();
  }
}

/**
 * Cursors of every event of a turn's stored stream log, in order. A compacted text row (one row standing for a
 * contiguous run of deltas, `firstCursor`..its own cursor) counts as the cursors of the deltas it replaced, so
 * the answer is the same before and after the turn's completion compacts its log.
 */
export async function storedCursors(env: TestEnv, turnId: string): Promise<number[]> {
  return (await storedEvents(env, turnId)).flatMap((event) => {
    const first = (event as { firstCursor?: unknown }).firstCursor;
    if (event.type !== 'text' || typeof first !== 'number') return [event.cursor];
    return Array.from({ length: event.cursor - first + 1 }, (_, i) => first + i);
  });
}

/**
 * Asserts a live stream read from `after` skipped and repeated nothing: each event names the one delivered before
 * it as its `prev` (true of every stream without superseded attempts).
 */
export function assertLinked(events: readonly TurnEvent[], after = 0): void {
  events.forEach((event, i) => {
    const expected = i === 0 ? after : events[i - 1]!.cursor;
    assert.equal(event.prev, expected, `event ${i} (cursor ${event.cursor}) follows cursor ${expected}`);
  });
}

/**
 * Asserts `delivered` (a whole turn read from cursor 0, over one connection or several) holds the stored log
 * once each: strictly increasing cursors, every stored row delivered, nothing delivered that the log never held.
 * A reader that resumes inside a compacted run gets the rest of the run as one event at the run's cursor, so
 * delivered deltas are checked against the log's cursors with compacted runs expanded.
 */
export async function assertDeliveredStoredLog(
  env: TestEnv,
  turnId: string,
  delivered: readonly TurnEvent[],
): Promise<void> {
  const cursors = delivered.map((e) => e.cursor);
  cursors.forEach((cursor, i) =>
    assert.ok(i === 0 || cursor > cursors[i - 1]!, `cursor ${cursor} repeats or goes back`),
  );
  const seen = new Set(cursors);
  for (const row of await storedEvents(env, turnId)) {
    assert.ok(seen.has(row.cursor), `stored event ${row.cursor} (${row.type}) was not delivered`);
  }
  const known = new Set(await storedCursors(env, turnId));
  for (const cursor of cursors) assert.ok(known.has(cursor), `delivered cursor ${cursor} is not in the stored log`);
}
