import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import type pg from 'pg';
import { TurnClient } from '../../client';
import { AnswerAssembler, isTerminal, type TurnEvent } from '../../common';
import { createPool } from '../../db';
import { startScriptedLlm, type ScriptedLlm } from '../../scripted-llm';
import {
  restartableDevServer,
  spawnWorkerProcess,
  throwawayPostgres,
  uniqueId,
  uniqueTaskQueue,
  type RestartableDevServer,
  type ThrowawayPostgres,
  type WorkerProcess,
} from '../support';

export const OUTAGE_MODEL = 'scripted-model';

/**
 * A stack of its own for outage tests: a Postgres cluster and a Temporal dev server the test may stop and
 * start, the scripted model, and the real worker as a child process.
 */
export interface OutageStack {
  pg: ThrowawayPostgres;
  temporal: RestartableDevServer;
  llm: ScriptedLlm;
  taskQueue: string;
  spawnWorker(extra?: Record<string, string>): WorkerProcess;
  /** A Temporal client and TurnClient on the stack (connect once both servers are up). */
  connect(): Promise<{ client: Client; turns: TurnClient; pool: pg.Pool }>;
  close(): Promise<void>;
}

export async function outageStack(): Promise<OutageStack> {
  const [pgCluster, temporal, llm] = await Promise.all([
    throwawayPostgres(),
    restartableDevServer(),
    startScriptedLlm(),
  ]);
  const taskQueue = uniqueTaskQueue('outage');
  const workers: WorkerProcess[] = [];
  const closers: (() => Promise<void>)[] = [];
  return {
    pg: pgCluster,
    temporal,
    llm,
    taskQueue,
    spawnWorker(extra = {}) {
      const worker = spawnWorkerProcess({
        temporalAddress: temporal.address,
        databaseUrl: pgCluster.url,
        taskQueue,
        llmBaseUrl: llm.baseURL,
        model: OUTAGE_MODEL,
        extra,
      });
      workers.push(worker);
      return worker;
    },
    async connect() {
      const connection = await Connection.connect({ address: temporal.address });
      const client = new Client({ connection });
      // The test process must outlive the outage too: a dropped connection fails a query, never the process.
      const pool = createPool({ connectionString: pgCluster.url, max: 5 }, () => undefined);
      // The worker process may still be starting on a busy machine: give the first start longer than the default.
      const turns = new TurnClient({
        temporal: client,
        pool,
        databaseUrl: pgCluster.url,
        taskQueue,
        startTimeoutMs: 60_000,
      });
      closers.push(async () => {
        await turns.close();
        await pool.end();
        await connection.close();
      });
      return { client, turns, pool };
    },
    async close() {
      for (const worker of workers) await worker.kill();
      for (const close of closers.reverse()) await close().catch(() => undefined);
      await llm.close();
      await Promise.all([temporal.destroy(), pgCluster.destroy()]);
    },
  };
}

/** A fresh request on a fresh conversation. */
export function newRequest(message: string) {
  return { conversationId: uniqueId('conv'), requestId: uniqueId('req'), message };
}

/**
 * Reads a turn's events as a client would: through `TurnClient.events`, resuming after the last cursor it
 * saw whenever the read fails (Postgres away), until a terminal event. Returns every event delivered.
 */
export async function readTurnResuming(turns: TurnClient, turnId: string, deadlineMs = 120_000): Promise<TurnEvent[]> {
  const events: TurnEvent[] = [];
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      for await (const event of turns.events(turnId, { after: events.at(-1)?.cursor ?? 0 })) {
        events.push(event);
        if (isTerminal(event)) return events;
      }
    } catch {
      if (Date.now() > deadline) throw new Error(`gave up reading ${turnId} after ${events.length} events`);
      await sleep(250);
    }
  }
}

/** The text a client applying `events` in order ends with. */
export function assembledText(events: TurnEvent[]): string {
  const answer = new AnswerAssembler();
  for (const event of events) answer.apply(event);
  return answer.text;
}

/** The stored final message of a turn. */
export async function storedFinal(pool: pg.Pool, turnId: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ content: string }>(
    `SELECT content FROM messages WHERE turn_id = $1 AND kind = 'final'`,
    [turnId],
  );
  return rows[0]?.content;
}

/** Retries `fn` until it succeeds (a dependency coming back), for at most `timeoutMs`. */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err: unknown) {
      if (Date.now() > deadline) throw err;
      await sleep(250);
    }
  }
}
