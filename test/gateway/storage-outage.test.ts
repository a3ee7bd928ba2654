import assert from 'node:assert/strict';
import pino from 'pino';
import { TurnClient } from '../../client';
import { createPool } from '../../db';
import { createGatewayApp, hashToken, startGatewayServer, TenantDirectory } from '../../gateway';
import { tcpProxy, uniqueId } from '../support';
import { turnHarness } from '../turn/harness';
import { TOKENS } from './harness';

describe('gateway: Postgres out of reach', function () {
  this.timeout(60_000);

  it('answers 503 unavailable with Retry-After, never 500, while Postgres is out of reach, and serves again after', async () => {
    const h = await turnHarness();
    // Only the gateway reaches Postgres through the proxy: cutting it is a Postgres restart as the gateway sees it.
    const direct = new URL(h.env.databaseUrl);
    const proxy = await tcpProxy(`${direct.hostname}:${direct.port}`);
    const proxied = new URL(h.env.databaseUrl);
    [proxied.hostname, proxied.port] = proxy.address.split(':') as [string, string];
    const databaseUrl = proxied.toString();
    const pool = createPool({ connectionString: databaseUrl, max: 4, connectionTimeoutMillis: 2_000 }, () => undefined);
    const turns = new TurnClient({ temporal: h.client, pool, databaseUrl, taskQueue: h.taskQueue });
    const app = createGatewayApp({
      turns,
      temporal: h.client,
      pool,
      tenants: new TenantDirectory([{ tenant: 'acme', hash: hashToken(TOKENS.acme) }]),
      logger: pino({ level: 'silent' }),
    });
    const server = await startGatewayServer(app);
    const request = (path: string, init: RequestInit = {}) =>
      fetch(`${server.url}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${TOKENS.acme}`, 'content-type': 'application/json' },
      });
    const requests = {
      'list conversations': () => request('/v1/conversations'),
      'resume a turn': () =>
        request(`/v1/turns/${encodeURIComponent(`turn/acme/${h.conversationId}/${uniqueId('req')}`)}/events`),
      'list messages': () => request(`/v1/conversations/${h.conversationId}/messages`),
      'start a turn': () =>
        request(`/v1/conversations/${h.conversationId}/turns`, {
          method: 'POST',
          body: JSON.stringify({ requestId: uniqueId('req'), message: 'hello' }),
        }),
    };
    try {
      assert.equal((await requests['list conversations']()).status, 200);
      await proxy.cut();
      for (const [name, send] of Object.entries(requests)) {
        const response = await send();
        const body = (await response.json()) as { error?: { type?: string } };
        assert.equal(response.status, 503, `${name}: ${JSON.stringify(body)}`);
        assert.equal(response.headers.get('retry-after'), '2', name);
        assert.equal(body.error?.type, 'unavailable', name);
      }
      await proxy.restore();
      assert.equal((await requests['list conversations']()).status, 200);
      assert.equal((await requests['resume a turn']()).status, 404);
    } finally {
      await proxy.restore().catch(() => undefined);
      await server.close(0);
      await turns.close();
      await pool.end();
      await proxy.close();
      await h.close();
    }
  });
});
