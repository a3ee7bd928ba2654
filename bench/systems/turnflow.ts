import { Client, type WorkflowClientInterceptor } from '@temporalio/client';
import { TurnClient } from '../../client';
import type { BenchStack } from '../stack';
import { conversationWorkflowIdFor } from '../../common';
import { BENCH_START_TIMEOUT_MS, TENANT, TURNFLOW_QUEUE } from '../stack';
import { messageFor, tokensIn } from '../tokens';
import { now, runAll, type System, type TurnRecord } from './types';

/** turnflow through its public client: `TurnClient.start` and `TurnClient.events`, in the bench process. */
export function turnflowSystem(stack: BenchStack): System & { close(): Promise<void> } {
  // When each update-with-start left this process and when its answer came back, by conversation workflow id.
  const sent = new Map<string, { sentAt: number; answeredAt?: number }>();
  const probe: WorkflowClientInterceptor = {
    // A turn started directly (the default; TURNFLOW_DIRECT_START=false turns it off) makes a plain start, marked by its
    // turn id.
    async startWithDetails(input, next) {
      const mark: { sentAt: number; answeredAt?: number } = { sentAt: now() };
      sent.set(input.options.workflowId, mark);
      try {
        return await next(input);
      } finally {
        mark.answeredAt = now();
      }
    },
    async startUpdateWithStart(input, next) {
      const mark: { sentAt: number; answeredAt?: number } = { sentAt: now() };
      sent.set(input.workflowStartOptions.workflowId, mark);
      try {
        return await next(input);
      } finally {
        mark.answeredAt = now();
      }
    },
  };
  const temporal = new Client({
    connection: stack.temporal.connection,
    namespace: stack.temporal.options.namespace,
    interceptors: { workflow: [probe] },
  });
  const turns = new TurnClient({
    temporal,
    pool: stack.pool,
    databaseUrl: stack.databaseUrl,
    taskQueue: TURNFLOW_QUEUE,
    startTimeoutMs: BENCH_START_TIMEOUT_MS,
    directStart: process.env['TURNFLOW_DIRECT_START'] !== 'false',
  });
  return {
    name: 'turnflow',
    close: () => turns.close(),
    run: (keys, opts) =>
      runAll(keys, opts.sequential, async (key) => {
        const record: TurnRecord = { key, startAt: now(), received: [] };
        const { turnId } = await turns.start({
          tenantId: TENANT,
          conversationId: key,
          requestId: 'r',
          message: messageFor(key),
          tools: opts.tools ?? [],
          ...(opts.persistence ? { persistence: opts.persistence } : {}),
        });
        record.workflowId = turnId;
        const mark = sent.get(conversationWorkflowIdFor(TENANT, key)) ?? sent.get(turnId);
        sent.delete(conversationWorkflowIdFor(TENANT, key));
        sent.delete(turnId);
        if (mark) record.temporal = { sentAt: mark.sentAt, answeredAt: mark.answeredAt ?? NaN };
        for await (const event of turns.events(turnId)) {
          const at = now();
          if (event.type === 'text') {
            record.firstDeltaAt ??= at;
            for (const token of tokensIn(event.text)) record.received.push([token, at]);
          } else if (event.type === 'error') {
            throw new Error(`turn ${key} failed: ${event.errorType}: ${event.message}`);
          }
        }
        record.endAt = now();
        return record;
      }),
  };
}
