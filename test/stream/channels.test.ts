import assert from 'node:assert/strict';
import pg from 'pg';
import { WriterChannel } from '../../activities/stream/channels';
import { EVENTS_CHANNEL } from '../../stream-log';
import { tcpProxy, testEnv } from '../support';

/** Each payload alone: this test reads the order of the notifications themselves. */
const unpacked = (payloads: string[]) => payloads;

describe('stream writer channels', () => {
  it('carries many writers on one connection per channel, each in its own order, and gives it back when they close', async () => {
    const env = await testEnv();
    const pool = new pg.Pool({ connectionString: env.databaseUrl, max: 6 });
    const listener = new pg.Client({ connectionString: env.databaseUrl });
    await listener.connect();
    const heard = new Map<string, number[]>();
    listener.on('notification', (msg) => {
      const { w, n } = JSON.parse(msg.payload ?? '{}') as { w: string; n: number };
      heard.set(w, [...(heard.get(w) ?? []), n]);
    });
    await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
    try {
      const channels = [new WriterChannel(pool, unpacked), new WriterChannel(pool, unpacked)];
      const writers = Array.from({ length: 30 }, (_, i) => ({ id: `w${i}`, abandoned: false, fail: assert.fail }));
      writers.forEach((_, i) => channels[i % 2]!.attach());
      let peak = 0;
      const sends: Promise<void>[] = [];
      for (let n = 0; n < 20; n += 1) {
        for (const [i, w] of writers.entries()) {
          sends.push(channels[i % 2]!.announce(JSON.stringify({ w: w.id, n }), w));
        }
        peak = Math.max(peak, pool.totalCount);
        await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(sends);
      peak = Math.max(peak, pool.totalCount);
      assert.ok(peak <= 2, `30 writers held ${peak} connections; two channels may hold two`);

      const deadline = Date.now() + 5_000;
      while ([...heard.values()].reduce((a, b) => a + b.length, 0) < 600 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const inOrder = Array.from({ length: 20 }, (_, n) => n);
      for (const w of writers) assert.deepEqual(heard.get(w.id), inOrder, w.id);

      writers.forEach((_, i) => channels[i % 2]!.detach());
      const idleBy = Date.now() + 5_000;
      while (pool.idleCount < pool.totalCount && Date.now() < idleBy) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(pool.idleCount, pool.totalCount, 'the last writer out gave the connection back');
    } finally {
      await listener.end();
      await pool.end();
    }
  });

  it('drops what an abandoned writer queued and did not send', async () => {
    const env = await testEnv();
    const pool = new pg.Pool({ connectionString: env.databaseUrl, max: 3 });
    const listener = new pg.Client({ connectionString: env.databaseUrl });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (msg) => heard.push(msg.payload ?? ''));
    await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
    try {
      const channel = new WriterChannel(pool, unpacked);
      channel.attach();
      const kept = { abandoned: false, fail: assert.fail };
      const gone = { abandoned: false, fail: assert.fail };
      // `gone` gives up before its announcement leaves (the send runs after this tick at the earliest).
      const first = channel.announce('"kept-1"', kept);
      const later = [channel.announce('"gone-1"', gone), channel.announce('"kept-2"', kept)];
      gone.abandoned = true;
      await Promise.all([first, ...later]);
      const end = Date.now() + 2_000;
      while (heard.length < 2 && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(heard, ['"kept-1"', '"kept-2"']);
      channel.detach();
    } finally {
      await listener.end();
      await pool.end();
    }
  });

  it('fails the writers of a batch that lost its connection or could not get one, and sends again once it is back', async () => {
    const env = await testEnv();
    const url = new URL(env.databaseUrl);
    const proxy = await tcpProxy(`${url.hostname}:${url.port}`);
    url.host = proxy.address;
    const pool = new pg.Pool({ connectionString: url.toString(), max: 3 });
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    const listener = new pg.Client({ connectionString: env.databaseUrl });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (msg) => heard.push(msg.payload ?? ''));
    await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
    const failed: string[] = [];
    const member = (name: string) => ({ abandoned: false, fail: () => failed.push(name) });
    try {
      const channel = new WriterChannel(pool, unpacked);
      channel.attach();
      await channel.announce('"before"', member('before'));
      await proxy.cut();
      // The held connection is gone, and no new one can be had: both batches fail their writers.
      await channel.announce('"cut-1"', member('cut-1'));
      await channel.announce('"cut-2"', member('cut-2'));
      assert.deepEqual(failed, ['cut-1', 'cut-2']);
      await proxy.restore();
      await channel.announce('"after"', member('after'));
      const end = Date.now() + 2_000;
      while (heard.length < 2 && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(heard, ['"before"', '"after"']);
      assert.deepEqual(failed, ['cut-1', 'cut-2']);
      channel.detach();
    } finally {
      await listener.end();
      await pool.end();
      await proxy.close();
    }
  });
});
