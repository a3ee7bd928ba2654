import assert from 'node:assert/strict';
import pg from 'pg';
import pino from 'pino';
import { isWorkerIdentity, LEASE_NAMESPACE, PeerLease, PeerTracker, workerIdentity } from '../../worker/peers';
import { testEnv } from '../support';

/** A connection holding a lease the way a worker process does, under `identity`. */
async function holdLease(databaseUrl: string, identity: string, keys: [number, number] = [LEASE_NAMESPACE, 7]) {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: identity });
  client.on('error', () => undefined);
  await client.connect();
  await client.query('SELECT pg_advisory_lock($1, $2)', keys);
  return client;
}

describe('worker leases in Postgres', function () {
  this.timeout(60_000);

  it('makes identities unique per process that fit application_name', () => {
    const a = workerIdentity(1, 'a-host-name-that-is-much-longer-than-postgres-allows-in-application-name.example');
    const b = workerIdentity(1, 'a-host-name-that-is-much-longer-than-postgres-allows-in-application-name.example');
    assert.notEqual(a, b);
    assert.ok(isWorkerIdentity(a) && Buffer.byteLength(a) <= 63, a);
    assert.match(workerIdentity(42, 'höst name'), /^42@h_st_name:[0-9a-f]{8}$/);
    assert.equal(isWorkerIdentity("x'; DROP"), false);
    assert.equal(isWorkerIdentity('x'.repeat(64)), false);
  });

  it('reports a peer lost only after it was seen, once, and forgets peers when asked', () => {
    const tracker = new PeerTracker();
    assert.deepEqual(tracker.observe([]), []);
    assert.deepEqual(tracker.observe(['a', 'b']), []);
    assert.deepEqual(tracker.observe(['b', 'c']), ['a']);
    assert.deepEqual(tracker.observe(['b', 'c']), []);
    tracker.forget();
    assert.deepEqual(tracker.observe([]), []);
  });

  it('sees the other leases appear and reports the one whose connection closed, and only that one', async () => {
    const { databaseUrl } = await testEnv();
    const lost: string[] = [];
    const lease = new PeerLease({
      databaseUrl,
      identity: workerIdentity(),
      pollMs: 50,
      onLost: (identity) => lost.push(identity),
      logger: pino({ level: 'silent' }),
    });
    const peerA = await holdLease(databaseUrl, 'peer-a@test:1', [LEASE_NAMESPACE, 11]);
    const peerB = await holdLease(databaseUrl, 'peer-b@test:2', [LEASE_NAMESPACE, 12]);
    // Neither a single-key lock nor another namespace's two-key lock is a lease.
    const other = await holdLease(databaseUrl, 'not-a-worker@test:3', [LEASE_NAMESPACE + 7, 11]);
    await other.query('SELECT pg_advisory_lock($1)', [LEASE_NAMESPACE]);
    lease.start();
    try {
      await until(() => lease.peers.has('peer-a@test:1') && lease.peers.has('peer-b@test:2'));
      assert.equal(lease.peers.has('not-a-worker@test:3'), false);
      await peerA.end();
      await until(() => lost.length > 0);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(lost, ['peer-a@test:1']);
      assert.ok(lease.peers.has('peer-b@test:2'));
    } finally {
      await lease.stop();
      await Promise.all([peerA.end().catch(() => undefined), peerB.end(), other.end()]);
    }
  });

  it('reports nothing when its own connection drops with the peers, and holds its lease again', async () => {
    const { databaseUrl, pool } = await testEnv();
    const lost: string[] = [];
    const identity = workerIdentity();
    const lease = new PeerLease({
      databaseUrl,
      identity,
      pollMs: 50,
      onLost: (peer) => lost.push(peer),
      logger: pino({ level: 'silent' }),
    });
    const peer = await holdLease(databaseUrl, 'peer-c@test:4', [LEASE_NAMESPACE, 13]);
    lease.start();
    try {
      await until(() => lease.peers.has('peer-c@test:4'));
      // What a Postgres restart does to every lease: all their connections end at once.
      await pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ANY($1)`, [
        [identity, 'peer-c@test:4'],
      ]);
      await until(async () => (await holders(pool)).includes(identity));
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(lost, []);
    } finally {
      await lease.stop();
      await peer.end().catch(() => undefined);
    }
    assert.equal((await holders(pool)).includes(identity), false, 'stop releases the lease');
  });
});

async function holders(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    `SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.classid = $1::oid AND l.objsubid = 2 AND l.granted`,
    [LEASE_NAMESPACE],
  );
  return rows.map((r) => r.name);
}

/** Resolves once `check` holds (polled every 25 ms, for at most 20 s). */
async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the condition never held');
    await new Promise((r) => setTimeout(r, 25));
  }
}
