import assert from 'node:assert/strict';
import pg from 'pg';
import { migrate } from '../../db';
import { ApiError } from '../../gateway/errors';
import { TenantLimits } from '../../gateway/limits';
import { createScratchDatabase, type ScratchDatabase } from '../support';

/** A promise and the function that resolves it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('gateway: concurrent starts of one tenant under the running-turn limit', function () {
  this.timeout(60_000);
  let db: ScratchDatabase;
  let pool: pg.Pool;

  before(async () => {
    db = await createScratchDatabase('limits');
    await migrate(db.url);
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
  });

  after(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('runs a start while an earlier start of the same tenant is still on its way to Temporal', async () => {
    const limits = new TenantLimits(pool, { maxRunningTurns: 10, maxOpenStreams: 0, retryAfterSeconds: 5 });
    const slow = gate();
    const began = gate();
    const events: string[] = [];
    const first = limits.admitTurn('acme', 'turn/acme/c1/r1', async () => {
      events.push('first started');
      began.open();
      await slow.opened;
      events.push('first done');
    });
    await began.opened;
    const second = limits.admitTurn('acme', 'turn/acme/c2/r1', () => {
      events.push('second started');
      return Promise.resolve();
    });
    const waited = new Promise((_, reject) =>
      setTimeout(() => reject(new Error('the second start waited for the first')), 20_000).unref(),
    );
    await Promise.race([second, waited]);
    // Serialised starts would have run the second only after the first was done.
    assert.deepEqual(events, ['first started', 'second started']);
    slow.open();
    await first;
  });

  it('admits exactly the limit of a burst sent at once, in arrival order, and refuses the rest with 429', async () => {
    const limits = new TenantLimits(pool, { maxRunningTurns: 3, maxOpenStreams: 0, retryAfterSeconds: 5 });
    const slow = gate();
    const admitted: number[] = [];
    const starts = Array.from({ length: 8 }, (_, i) =>
      limits.admitTurn('globex', `turn/globex/burst-${i}/r`, async () => {
        admitted.push(i);
        await slow.opened;
      }),
    );
    // The refused ones answer while the admitted ones are still starting.
    const refused = await Promise.all(
      starts.slice(3).map((p) =>
        p.then(
          () => 'admitted',
          (err: unknown) => err,
        ),
      ),
    );
    for (const err of refused) {
      assert.ok(err instanceof ApiError, String(err));
      assert.equal(err.status, 429);
    }
    slow.open();
    await Promise.all(starts.slice(0, 3));
    assert.deepEqual(admitted.sort(), [0, 1, 2]);
  });
});
