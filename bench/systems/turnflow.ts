import { TurnClient } from '../../client';
import type { BenchStack } from '../stack';
import { TENANT, TURNFLOW_QUEUE } from '../stack';
import { messageFor, tokensIn } from '../tokens';
import { now, runAll, type System, type TurnRecord } from './types';

/** turnflow through its public client: `TurnClient.start` and `TurnClient.events`, in the bench process. */
export function turnflowSystem(stack: BenchStack): System & { close(): Promise<void> } {
  const turns = new TurnClient({
    temporal: stack.temporal,
    pool: stack.pool,
    databaseUrl: stack.databaseUrl,
    taskQueue: TURNFLOW_QUEUE,
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
