/** The workflow_streams system's worker process, on its own task queue (SDK 1.23.0 from this package). */
import path from 'node:path';
import { NativeConnection, Runtime, DefaultLogger, Worker } from '@temporalio/worker';
import OpenAI from 'openai';
import { createActivities } from './activities';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address: env('TEMPORAL_ADDRESS') });
  try {
    const openai = new OpenAI({ baseURL: env('OPENAI_BASE_URL'), apiKey: env('OPENAI_API_KEY'), maxRetries: 0 });
    const worker = await Worker.create({
      connection,
      taskQueue: env('TURNFLOW_TASK_QUEUE'),
      workflowsPath: path.join(__dirname, 'workflows.ts'),
      activities: createActivities(openai, env('OPENAI_MODEL')),
    });
    // The SDK's runtime shuts the worker down on SIGTERM/SIGINT; run() then resolves.
    await worker.run();
  } finally {
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
