import { NativeConnection } from '@temporalio/worker';
import OpenAI from 'openai';
import pg from 'pg';
import pino from 'pino';
import { migrate } from '../db';
import { builtinTools, createToolRegistry } from '../activities/tools';
import { temporalConnectionOptions } from '../client/temporal-env';
import { loadWorkerConfig } from './config';
import { createTurnWorker } from './create-worker';

async function main(): Promise<void> {
  const config = loadWorkerConfig();
  if (config.DATABASE_POOL_MAX <= config.TURNFLOW_MAX_CONCURRENT_ACTIVITIES) {
    console.warn(
      'DATABASE_POOL_MAX should exceed TURNFLOW_MAX_CONCURRENT_ACTIVITIES: each streaming hop holds a connection',
    );
  }
  const logger = pino({ level: config.LOG_LEVEL, redact: ['*.apiKey', '*.authorization', '*.Authorization'] });
  // A bad tool set stops the worker here, before it takes any turn (the seed's fail-fast validation).
  const all = createToolRegistry(builtinTools());
  const tools = config.TURNFLOW_TOOLS ? all.subset(config.TURNFLOW_TOOLS) : all;
  const models = [config.OPENAI_MODEL, ...config.TURNFLOW_MODELS.filter((m) => m !== config.OPENAI_MODEL)];

  await migrate(config.DATABASE_URL);
  // A connection that cannot be had in 30 s fails the activity (Temporal retries it) instead of hanging it
  // while its heartbeats make it look alive.
  const pool = new pg.Pool({
    connectionString: config.DATABASE_URL,
    max: config.DATABASE_POOL_MAX,
    connectionTimeoutMillis: 30_000,
  });
  const connection = await NativeConnection.connect(await temporalConnectionOptions(config));
  try {
    const openai = new OpenAI({
      apiKey: config.OPENAI_API_KEY,
      ...(config.OPENAI_BASE_URL ? { baseURL: config.OPENAI_BASE_URL } : {}),
      maxRetries: 0,
    });
    const worker = await createTurnWorker({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TURNFLOW_TASK_QUEUE,
      deps: {
        pool,
        openai,
        tools,
        models: { default: config.OPENAI_MODEL, allowed: models },
        logger,
        logLlmReplies: config.TURNFLOW_LOG_LLM_REPLIES,
        llmIdleTimeoutMs: config.TURNFLOW_LLM_IDLE_TIMEOUT_MS,
      },
      maxConcurrentActivityTaskExecutions: config.TURNFLOW_MAX_CONCURRENT_ACTIVITIES,
    });
    logger.info(
      {
        temporal: config.TEMPORAL_ADDRESS,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue: config.TURNFLOW_TASK_QUEUE,
        models,
        tools: tools.names,
        llm: config.OPENAI_BASE_URL ?? 'https://api.openai.com/v1',
      },
      'turnflow worker running',
    );
    await worker.run();
  } finally {
    await connection.close();
    await pool.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
