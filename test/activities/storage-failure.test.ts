import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import { StorageFailureType, toStorageFailure } from '../../activities/repo/storage-failure';
import { testEnv, type TestEnv } from '../support';

/** What `query` throws (it must throw). */
async function errorOf(query: Promise<unknown>): Promise<unknown> {
  try {
    await query;
  } catch (err: unknown) {
    return err;
  }
  throw new Error('the query succeeded');
}

describe('storage failures', function () {
  this.timeout(60_000);
  let env: TestEnv;

  before(async () => {
    env = await testEnv();
    await env.pool.query(`CREATE TABLE IF NOT EXISTS storage_failure_probe (key text UNIQUE)`);
  });
  after(async () => {
    await env.pool.query(`DROP TABLE IF EXISTS storage_failure_probe`);
  });

  const raise = (code: string) =>
    errorOf(env.pool.query(`DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '${code}'; END $$`));

  it('fails at once on data Postgres cannot store: a NUL, an index row too large, a constraint, bad SQL', async () => {
    const cases: [string, unknown][] = [
      ['NUL in text', await errorOf(env.pool.query(`SELECT $1::text`, ['a\u0000b']))],
      [
        'index row too large',
        await errorOf(
          env.pool.query(`INSERT INTO storage_failure_probe (key) VALUES ($1)`, [randomBytes(4_000).toString('hex')]),
        ),
      ],
      ['unique violation', await raise('23505')],
      ['undefined table', await errorOf(env.pool.query(`SELECT * FROM no_such_table`))],
    ];
    for (const [what, err] of cases) {
      const failure = toStorageFailure(err);
      assert.equal(failure.type, StorageFailureType.invalidData, what);
      assert.equal(failure.nonRetryable, true, what);
      // Postgres quotes refused data; the failure (recorded by Temporal) names the SQLSTATE only.
      assert.equal(failure.cause, undefined, what);
      assert.match(failure.message, /^storage failed \(SQLSTATE [0-9A-Z]{5}, \w+\)$/, what);
    }
  });

  it('retries what may pass later: refused connections, restarts, serialization failures, deadlocks, no memory', async () => {
    const refused = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none', max: 1 });
    const cases: [string, unknown][] = [
      ['connection refused', await errorOf(refused.query('SELECT 1'))],
      ['admin shutdown', await raise('57P01')],
      ['serialization failure', await raise('40001')],
      ['deadlock', await raise('40P01')],
      ['out of memory', await raise('53200')],
      ['connection failure', await raise('08006')],
    ];
    await refused.end();
    for (const [what, err] of cases) {
      const failure = toStorageFailure(err);
      assert.equal(failure.type, StorageFailureType.unavailable, what);
      assert.equal(failure.nonRetryable, false, what);
    }
  });

  it('retries a lost connection, in the words pg and Node use for it', async () => {
    // A server that accepts and then says nothing (connect timeout), and one that hangs up at once (terminated).
    const held = new Set<net.Socket>();
    const silent = net.createServer((socket) => void held.add(socket));
    const hangUp = net.createServer((socket) => socket.destroy());
    await Promise.all([silent, hangUp].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
    const url = (s: net.Server) => `postgres://postgres@127.0.0.1:${(s.address() as net.AddressInfo).port}/none`;
    const timingOut = new pg.Pool({ connectionString: url(silent), max: 1, connectionTimeoutMillis: 200 });
    const terminated = new pg.Pool({ connectionString: url(hangUp), max: 1 });
    // What Node throws on a write to a closed socket (no SQLSTATE, though its code has five letters).
    const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE', errno: -32, syscall: 'write' });
    const cases: [string, unknown][] = [
      ['connect timeout', await errorOf(timingOut.query('SELECT 1'))],
      ['connection terminated', await errorOf(terminated.query('SELECT 1'))],
      ['EPIPE', epipe],
    ];
    await Promise.all([timingOut.end(), terminated.end()]);
    for (const socket of held) socket.destroy();
    await Promise.all([silent, hangUp].map((s) => new Promise((r) => s.close(r))));
    for (const [what, err] of cases) {
      const failure = toStorageFailure(err);
      assert.equal(failure.type, StorageFailureType.unavailable, `${what}: ${String(err)}`);
      assert.equal(failure.nonRetryable, false, what);
    }
  });

  it('fails at once when a storage step breaks its own invariant: no retry can mend it', () => {
    const failure = toStorageFailure(new Error('turn t-1 has no final message after completion'));
    assert.equal(failure.type, StorageFailureType.failed);
    assert.equal(failure.nonRetryable, true);
  });

  it('passes an ApplicationFailure through unchanged', () => {
    const failure = ApplicationFailure.nonRetryable('already typed', 'turn.not_stored');
    assert.equal(toStorageFailure(failure), failure);
  });
});
