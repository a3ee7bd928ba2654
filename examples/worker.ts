// A worker of your own that runs turnflow's chat turns, with a tool of your service beside the built-in ones.
// Environment: DATABASE_URL, TEMPORAL_ADDRESS, OPENAI_API_KEY, OPENAI_BASE_URL (optional), OPENAI_MODEL, TASK_QUEUE.
import { NativeConnection } from '@temporalio/worker';
import OpenAI from 'openai';
import pino from 'pino';
import { z } from 'zod';
import { builtinTools, createPool, createToolRegistry, createTurnWorker, defineTool, migrate } from 'turnflow/worker';

const ORDERS: Record<string, string> = { 'A-1001': 'shipped', 'A-1002': 'packing' };

/** A tool of this service: the model calls it by name, with arguments checked against `parameters`. */
export const orderStatus = defineTool({
  name: 'order_status',
  description: 'The shipping status of an order, by its id (like A-1001).',
  parameters: z.object({ orderId: z.string().max(32) }),
  // ctx.idempotencyKey is the same on every retry of this call: hand it to any system the tool changes.
  execute: ({ orderId }) => Promise.resolve({ orderId, status: ORDERS[orderId] ?? 'unknown order' }),
});

async function main(): Promise<void> {
  const env = (name: string, fallback?: string): string => {
    const value = process.env[name] ?? fallback;
    if (value === undefined) throw new Error(`${name} is not set`);
    return value;
  };
  const databaseUrl = env('DATABASE_URL');
  const model = env('OPENAI_MODEL', 'gpt-4o-mini');
  await migrate(databaseUrl); // turnflow's tables; idempotent, safe when several workers start together
  const logger = pino({ level: 'warn' });
  // createPool listens for connection errors: a Postgres restart fails what was using a connection, not the process.
  const pool = createPool({ connectionString: databaseUrl, max: 20 }, (err) => logger.warn({ err }, 'database'));
  const connection = await NativeConnection.connect({ address: env('TEMPORAL_ADDRESS', 'localhost:7233') });
  try {
    const worker = await createTurnWorker({
      connection,
      taskQueue: env('TASK_QUEUE', 'turnflow'),
      deps: {
        pool,
        // Temporal owns retries, so the client must not retry on its own.
        openai: new OpenAI({ apiKey: env('OPENAI_API_KEY'), baseURL: process.env['OPENAI_BASE_URL'], maxRetries: 0 }),
        tools: createToolRegistry([...builtinTools(), orderStatus]),
        models: { default: model, allowed: [model] },
        logger,
      },
    });
    console.log('worker ready');
    await worker.run(); // until SIGINT or SIGTERM
  } finally {
    await connection.close();
    await pool.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
