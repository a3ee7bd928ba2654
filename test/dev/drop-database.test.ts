import assert from 'node:assert/strict';
import pg from 'pg';
import { createScratchDatabase } from '../support';

describe('dropDatabase', function () {
  this.timeout(30_000);

  it('lets a session that is closing finish before it disconnects the rest', async () => {
    const db = await createScratchDatabase('drop');
    // A client on its way out: `pg.Pool.end()` resolves at this point, its connections still open on the server.
    const client = new pg.Client({ connectionString: db.url });
    const errors: Error[] = [];
    client.on('error', (err) => errors.push(err));
    await client.connect();
    const dropped = db.drop();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await client.end();
    await dropped;
    assert.deepEqual(
      errors.map((e) => e.message),
      [],
      'the drop terminated a session that was closing',
    );
  });

  it('still drops a database whose sessions stay connected, once the grace has passed', async () => {
    const db = await createScratchDatabase('drop');
    const client = new pg.Client({ connectionString: db.url });
    const errors: Error[] = [];
    client.on('error', (err) => errors.push(err));
    await client.connect();
    await db.drop();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.match(errors[0]?.message ?? '', /terminating connection due to administrator command/);
    await client.end().catch(() => undefined);
  });
});
