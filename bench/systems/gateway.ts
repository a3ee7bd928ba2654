import type { BenchStack } from '../stack';
import { TENANT, TENANT_TOKEN } from '../stack';
import { messageFor, tokensIn } from '../tokens';
import { postSse } from './sse';
import { now, runAll, type System, type TurnRecord } from './types';

/** turnflow over HTTP: `POST /v1/conversations/<key>/turns` on the gateway process, read as SSE. */
export function gatewaySystem(stack: BenchStack): System {
  return {
    name: 'turnflow_gateway',
    run: (keys, opts) =>
      runAll(keys, opts.sequential, async (key) => {
        const record: TurnRecord = { key, startAt: now(), received: [], workflowId: `turn/${TENANT}/${key}/r` };
        const body = {
          requestId: 'r',
          message: messageFor(key),
          tools: opts.tools ?? [],
          ...(opts.persistence ? { persistence: opts.persistence } : {}),
        };
        await postSse(
          `${stack.gatewayUrl}/v1/conversations/${key}/turns`,
          body,
          { authorization: `Bearer ${TENANT_TOKEN}` },
          (event) => {
            const at = now();
            if (event.event === 'text') {
              record.firstDeltaAt ??= at;
              const text = (JSON.parse(event.data) as { text: string }).text;
              for (const token of tokensIn(text)) record.received.push([token, at]);
            } else if (event.event === 'error') {
              throw new Error(`turn ${key} failed: ${event.data}`);
            }
          },
        );
        record.endAt = now();
        return record;
      }),
  };
}
