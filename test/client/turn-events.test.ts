import assert from 'node:assert/strict';
import pg from 'pg';
import { StreamWriter } from '../../activities/stream/writer';
import { EventHub, turnEvents } from '../../client';
import { testEnv, uniqueId } from '../support';

describe('turnEvents: a gap at the start of a live stream', function () {
  this.timeout(30_000);

  it('is filled from storage while the stream goes on, not only once it pauses', async () => {
    const env = await testEnv();
    const pool = new pg.Pool({ connectionString: env.databaseUrl, max: 4 });
    const hub = new EventHub({ connectionString: env.databaseUrl });
    const tenant = uniqueId('tenant');
    const turnId = `turn/${tenant}/c/r`;
    await pool.query(`INSERT INTO conversations (tenant_id, id) VALUES ($1, 'c')`, [tenant]);
    await pool.query(
      `INSERT INTO turns (id, tenant_id, conversation_id, request_id, model) VALUES ($1, $2, 'c', 'r', 'm')`,
      [turnId, tenant],
    );
    // Rows stored only when flushed: the first deltas are announced before the reader listens and stored after.
    const writer = await StreamWriter.open(pool, {
      turnId,
      hop: 0,
      attempt: 1,
      persistence: { persistDeltas: true, intervalMs: 60_000, minChars: 1_000_000 },
    });
    const abort = new AbortController();
    try {
      for (const text of ['a', 'b', 'c']) writer.text(text);
      const reader = turnEvents(pool, hub, turnId, { signal: abort.signal, pollMs: 100 });
      const first = reader.next();
      // A model streaming a delta every 20 ms, which the reader hears live while the first three are missing.
      let streaming = true;
      let sent = 0;
      const model = (async () => {
        while (streaming && sent < 250) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          writer.text(`d${sent++}`);
          if (sent === 10) await writer.flush();
        }
      })();
      const delivered = await first;
      const sentBeforeDelivery = sent;
      streaming = false;
      await model;
      assert.equal(!delivered.done && delivered.value.type === 'text' && delivered.value.text, 'a');
      // Stored after the 10th live delta; read within a poll of that, while the stream went on (5 s of it remained).
      assert.ok(
        sentBeforeDelivery < 250,
        `the first delta reached the reader only after the stream stopped (${sentBeforeDelivery} deltas later)`,
      );
      await reader.return(undefined);
    } finally {
      abort.abort();
      writer.abandon();
      await hub.close();
      await pool.end();
    }
  });
});
