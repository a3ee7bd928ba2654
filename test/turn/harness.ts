import { bundleWorkflowCode, NativeConnection, type Worker, type WorkflowBundle } from '@temporalio/worker';
import { readFile } from 'node:fs/promises';
import { testWorkflowBundleFile } from '../../dev/test-bundle';
import type { Client } from '@temporalio/client';
import OpenAI from 'openai';
import pino, { type Logger } from 'pino';
import { startScriptedLlm, type ScriptedLlm } from '../../scripted-llm';
import { builtinTools, createToolRegistry, type Tool } from '../../activities/tools';
import type { ActivityDeps } from '../../activities';
import { createTurnWorker, WORKFLOWS_PATH, type TurnWorkerOptions } from '../../worker/create-worker';
import { quietBundlerLogger } from '../../worker/workflow-bundle';
import { startTurn, type StartedTurn } from '../../client';
import type { StartTurnRequest } from '../../common';
import type { Tracing } from '../../tracing';
import { testEnv, uniqueId, uniqueTaskQueue, type TestEnv } from '../support';

let bundle: Promise<WorkflowBundle> | undefined;

/**
 * Test workers run workflow code on the test's own thread (the SDK's `debugMode`): a worker thread of its own costs
 * each of the hundreds of short-lived workers a run creates about a CPU-second to start (it loads the SDK and its
 * protobuf definitions again), which on this two-core machine was most of what `npm test` spent. The workflow code,
 * its sandbox and its determinism checks are the same; only the SDK's deadlock detection is off. Worker processes a
 * test spawns, and traced workers, run as the product does.
 */
export const IN_PROCESS_WORKFLOWS = true;

/** The workflow bundle: the one `npm test` built for the run, else built once by this process (it takes seconds). */
export function workflowBundle(): Promise<WorkflowBundle> {
  const prebuilt = testWorkflowBundleFile();
  bundle ??= prebuilt
    ? readFile(prebuilt, 'utf8').then((code) => ({ code }))
    : bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
  return bundle;
}

/** Everything a turn test needs: real Temporal, real Postgres, the scripted model over HTTP. */
export interface TurnHarness {
  env: TestEnv;
  client: Client;
  llm: ScriptedLlm;
  taskQueue: string;
  conversationId: string;
  /** Starts a turn on this harness's task queue. */
  start(request: Partial<StartTurnRequest> & { message?: string }): Promise<StartedTurn>;
  /** The activities' dependencies a worker of this harness gets (for tests that build their own workers). */
  deps(opts?: WorkerOpts): ActivityDeps;
  /** Runs a worker with these tools (default: the built-ins) while `fn` runs. */
  withWorker<T>(fn: (worker: Worker) => Promise<T>, opts?: WorkerOpts): Promise<T>;
  close(): Promise<void>;
}

export interface WorkerOpts {
  tools?: Tool[];
  logger?: Logger;
  llmIdleTimeoutMs?: number;
  models?: string[];
  heartbeatIntervalMs?: number;
  llmFailureBudget?: number;
  /** Workflows the worker keeps cached; 0 replays every task from its full history, as after a restart. */
  maxCachedWorkflows?: number;
  /** MCP servers whose tools the worker offers too. */
  mcpServers?: Record<string, unknown>;
  approvalTools?: string[];
  approvalTimeoutMs?: number;
  maxConcurrentActivityTaskExecutions?: number;
  /** The worker's data converter (payload encryption). */
  dataConverter?: TurnWorkerOptions['dataConverter'];
  /** The worker exports spans (its bundle must then be `workflowBundle`, built with the tracing interceptors). */
  tracing?: Tracing;
  /** A bundle of the worker's own (default: the run's shared one). */
  workflowBundle?: WorkflowBundle;
}

export const TEST_MODEL = 'scripted-model';

export async function turnHarness(): Promise<TurnHarness> {
  const env = await testEnv();
  const llm = await startScriptedLlm({ port: 0 });
  const taskQueue = uniqueTaskQueue('turn');
  const conversationId = uniqueId('conv');
  const client = env.temporal.client;
  const workflowBundleCode = await workflowBundle();

  return {
    env,
    client,
    llm,
    taskQueue,
    conversationId,
    start: (request) =>
      startTurn(
        { temporal: client, pool: env.pool },
        { conversationId, requestId: uniqueId('req'), message: 'hello', ...request },
        { taskQueue },
      ),
    deps: (opts = {}) => activityDeps(env, llm, opts),
    async withWorker(fn, opts = {}) {
      const connection = await NativeConnection.connect({ address: env.temporal.address });
      const deps = activityDeps(env, llm, opts);
      let stopReporting = () => {};
      try {
        const worker = await createTurnWorker({
          connection,
          taskQueue,
          deps,
          workflowBundle: opts.workflowBundle ?? workflowBundleCode,
          // A traced worker keeps its workflow thread: on the test's own thread the workflows' trace context meets
          // the test process's own OpenTelemetry context manager (a CI run saw a span outside its turn's tree).
          debugMode: IN_PROCESS_WORKFLOWS && !opts.tracing,
          ...(opts.tracing ? { tracing: opts.tracing } : {}),
          ...(opts.maxCachedWorkflows === undefined ? {} : { maxCachedWorkflows: opts.maxCachedWorkflows }),
          ...(opts.mcpServers ? { mcpServers: opts.mcpServers } : {}),
          ...(opts.dataConverter ? { dataConverter: opts.dataConverter } : {}),
          ...(opts.maxConcurrentActivityTaskExecutions === undefined
            ? {}
            : { maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions }),
        });
        return await worker.runUntil(async () => {
          try {
            return await fn(worker);
          } finally {
            stopReporting = reportSlowShutdown(worker);
          }
        });
      } finally {
        await connection.close().finally(() => stopReporting());
      }
    },
    async close() {
      await llm.close();
    },
  };
}

/** A shutdown that takes this long is reported with the worker's state (the SDK gives up at 30 s). */
const SLOW_SHUTDOWN_MS = 10_000;

/**
 * Prints where a worker stands while its shutdown (and its connection's close) takes longer than
 * {@link SLOW_SHUTDOWN_MS}, until the returned function is called: a shutdown that hangs otherwise shows only as the
 * test's timeout (issue 16 saw one as a conversation continued as new).
 */
function reportSlowShutdown(worker: Worker): () => void {
  const began = Date.now();
  const timer = setInterval(() => {
    console.error(
      `worker ${worker.options.taskQueue} still shutting down after ${Date.now() - began} ms:`,
      JSON.stringify(worker.getStatus()),
    );
  }, SLOW_SHUTDOWN_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** What the harness's workers run their activities with. */
function activityDeps(env: TestEnv, llm: ScriptedLlm, opts: WorkerOpts): ActivityDeps {
  return {
    pool: env.pool,
    openai: new OpenAI({ baseURL: llm.baseURL, apiKey: 'test-key', maxRetries: 0 }),
    tools: createToolRegistry(opts.tools ?? builtinTools()),
    models: { default: TEST_MODEL, allowed: opts.models ?? [TEST_MODEL] },
    logger: opts.logger ?? pino({ level: 'silent' }),
    llmIdleTimeoutMs: opts.llmIdleTimeoutMs ?? 30_000,
    ...(opts.heartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs: opts.heartbeatIntervalMs }),
    ...(opts.llmFailureBudget === undefined ? {} : { llmFailureBudget: opts.llmFailureBudget }),
    ...(opts.approvalTools === undefined ? {} : { approvalTools: opts.approvalTools }),
    ...(opts.approvalTimeoutMs === undefined ? {} : { approvalTimeoutMs: opts.approvalTimeoutMs }),
  };
}

/** The stored final message of a turn. */
export async function finalMessage(env: TestEnv, turnId: string) {
  const { rows } = await env.pool.query<{
    id: string;
    content: string;
    finish_reason: string;
    model: string;
    usage: unknown;
  }>(`SELECT id, content, finish_reason, model, usage FROM messages WHERE turn_id = $1 AND kind = 'final'`, [turnId]);
  return rows;
}

/** Every stored stream event of a turn, in cursor order, as a client would read them. */
export async function storedEvents(env: TestEnv, turnId: string) {
  const { rows } = await env.pool.query<{
    cursor: string;
    prev: string;
    hop: number;
    attempt: number;
    type: string;
    data: Record<string, unknown>;
  }>(`SELECT cursor, prev, hop, attempt, type, data FROM turn_events WHERE turn_id = $1 ORDER BY cursor`, [turnId]);
  return rows.map((r) => ({
    ...r.data,
    turnId,
    cursor: Number(r.cursor),
    prev: Number(r.prev),
    hop: r.hop,
    attempt: r.attempt,
    type: r.type,
  }));
}
