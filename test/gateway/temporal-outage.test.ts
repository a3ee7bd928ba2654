import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { TurnClient } from '../../client';
import { AnswerAssembler } from '../../common';
import { createPool } from '../../db';
import { createGatewayApp, hashToken, startGatewayServer, TenantDirectory } from '../../gateway';
import { tcpProxy, uniqueId } from '../support';
import { finalMessage, turnHarness } from '../turn/harness';
import { readEvents, TOKENS } from './harness';

describe('gateway: Temporal unreachable while a turn streams', function () {
  this.timeout(120_000);

  it('keeps streaming a running turn from Postgres while Temporal is unreachable for 25 s and never announces an early end', async () => {
    const h = await turnHarness();
    // Only the gateway reaches Temporal through the proxy; the worker keeps its own connection and runs on.
    const proxy = await tcpProxy(h.env.temporal.address);
    const connection = await Connection.connect({ address: proxy.address });
    const temporal = new Client({ connection });
    const pool = createPool({ connectionString: h.env.databaseUrl, max: 10 }, () => undefined);
    const turns = new TurnClient({ temporal, pool, databaseUrl: h.env.databaseUrl, taskQueue: h.taskQueue });
    const app = createGatewayApp({
      turns,
      temporal,
      pool,
      tenants: new TenantDirectory([{ tenant: 'acme', hash: hashToken(TOKENS.acme) }]),
      logger: pino({ level: 'silent' }),
    });
    const server = await startGatewayServer(app);
    try {
      h.llm.enqueue({ steps: [{ text: 'Before the outage, ' }, { waitFor: 'outage-over' }, { text: 'after it.' }] });
      const events = await h.withWorker(async () => {
        const response = await fetch(`${server.url}/v1/conversations/${h.conversationId}/turns`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKENS.acme}`, 'content-type': 'application/json' },
          body: JSON.stringify({ requestId: uniqueId('req'), message: 'outlast an outage' }),
        });
        assert.equal(response.status, 200);
        const reading = readEvents(response);
        await h.llm.gateReached('outage-over');
        await proxy.cut();
        // Longer than the ~20 s after which a failed result watch used to be taken for a closed workflow.
        await sleep(25_000);
        h.llm.release('outage-over');
        const all = await reading;
        await proxy.restore();
        return all;
      });

      const turnId = events.find((e) => e.turnEvent)?.turnEvent?.turnId ?? '';
      assert.deepEqual(
        events.filter((e) => !e.turnEvent),
        [],
        'no event but the turn’s own (no turn.unknown, no stream error)',
      );
      assert.equal(events.at(-1)?.turnEvent?.type, 'done');
      const answer = new AnswerAssembler();
      for (const e of events) answer.apply(e.turnEvent!);
      const [final] = await finalMessage(h.env, turnId);
      assert.equal(final?.content, 'Before the outage, after it.');
      assert.equal(answer.text, final.content);
    } finally {
      await proxy.restore().catch(() => undefined);
      await server.close(0);
      await turns.close();
      await pool.end();
      // Not closed: the SDK's gRPC retry interceptor keeps timers for calls retried during the cut, and one that
      // fires after close() throws "Channel has been shut down" into whatever runs next (even after teardown).
      // The channel goes away with the test process.
      void connection;
      await proxy.close();
      await h.close();
    }
  });
});
