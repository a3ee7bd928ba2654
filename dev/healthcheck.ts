// Container health checks for docker-compose.yml (`npx tsx dev/healthcheck.ts worker|gateway`):
//   worker  — Temporal lists a poller from this container on the turnflow task queue;
//   gateway — the HTTP server on GATEWAY_PORT answers (any status below 500).
import os from 'node:os';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { z } from 'zod';
import { TASK_QUEUE } from '../common';

const Env = z.object({
  TEMPORAL_ADDRESS: z.string().default('localhost:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TURNFLOW_TASK_QUEUE: z.string().min(1).default(TASK_QUEUE),
  GATEWAY_PORT: z.coerce.number().int().positive().default(8080),
});

async function workerIsPolling(env: z.infer<typeof Env>): Promise<void> {
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS, connectTimeout: 3000 });
  try {
    const { pollers } = await connection.workflowService.describeTaskQueue({
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: { name: env.TURNFLOW_TASK_QUEUE },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    // The SDK's default worker identity is `<pid>@<hostname>`; the container's hostname is its id.
    const mine = (pollers ?? []).some((poller) => poller.identity?.endsWith(`@${os.hostname()}`));
    if (!mine) throw new Error(`no poller from ${os.hostname()} on task queue ${env.TURNFLOW_TASK_QUEUE}`);
  } finally {
    await connection.close();
  }
}

async function gatewayAnswers(env: z.infer<typeof Env>): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${env.GATEWAY_PORT}/`, { signal: AbortSignal.timeout(3000) });
  if (response.status >= 500) throw new Error(`gateway answered ${response.status}`);
}

async function main(): Promise<void> {
  const env = Env.parse(process.env);
  const which = process.argv[2];
  if (which === 'worker') await workerIsPolling(env);
  else if (which === 'gateway') await gatewayAnswers(env);
  else throw new Error(`usage: healthcheck.ts worker|gateway (got ${String(which)})`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
