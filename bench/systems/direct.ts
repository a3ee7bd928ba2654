import type { BenchStack } from '../stack';
import { messageFor, tokensIn } from '../tokens';
import { postSse } from './sse';
import { now, runAll, type System, type TurnRecord } from './types';

/** The floor: bench/direct-server.ts forwards the `openai` stream straight to the caller. */
export function directSystem(stack: BenchStack): System {
  return {
    name: 'direct',
    run: (keys, opts) =>
      runAll(keys, opts.sequential, async (key) => {
        const record: TurnRecord = { key, startAt: now(), received: [] };
        await postSse(`${stack.directUrl}/chat`, { message: messageFor(key) }, {}, (event) => {
          if (event.data === '[DONE]') return;
          const at = now();
          record.firstDeltaAt ??= at;
          const text = (JSON.parse(event.data) as { text: string }).text;
          for (const token of tokensIn(text)) record.received.push([token, at]);
        });
        record.endAt = now();
        return record;
      }),
  };
}
