import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import pg from 'pg';
import { migrate, MIGRATIONS_DIR, MIGRATIONS_TABLE } from '../../db';
import { createScratchDatabase, type ScratchDatabase } from '../support';

const APP_TABLES = [
  'conversations',
  'llm_attempt_spans',
  'llm_failures',
  'llm_usage',
  'messages',
  'tool_approval_reasons',
  'tool_approvals',
  'tool_retry_errors',
  'turn_events',
  'turns',
  'worker_catalogs',
];

async function query<R extends pg.QueryResultRow>(url: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function tables(url: string): Promise<string[]> {
  const rows = await query<{ table_name: string }>(
    url,
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
  );
  return rows.map((row) => row.table_name);
}

async function applied(url: string): Promise<{ name: string; run_on: Date }[]> {
  return query(url, `SELECT name, run_on FROM ${MIGRATIONS_TABLE} ORDER BY id`);
}

async function migrationNames(): Promise<string[]> {
  return (await readdir(MIGRATIONS_DIR))
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => file.replace(/\.sql$/, ''));
}

describe('migrate', function () {
  let db: ScratchDatabase;

  beforeEach(async function () {
    db = await createScratchDatabase('migrate');
  });

  afterEach(async function () {
    await db.drop();
  });

  it('creates every table in a fresh database', async function () {
    await migrate(db.url);
    assert.deepEqual(await tables(db.url), [...APP_TABLES, MIGRATIONS_TABLE].sort());
    assert.deepEqual(
      (await applied(db.url)).map((row) => row.name),
      await migrationNames(),
    );
  });

  it('is a no-op when run a second time', async function () {
    await migrate(db.url);
    const before = await applied(db.url);
    await migrate(db.url);
    assert.deepEqual(await applied(db.url), before);
  });

  it('applies each migration once when several processes migrate at the same moment', async function () {
    await Promise.all(Array.from({ length: 4 }, () => migrate(db.url)));
    assert.deepEqual(
      (await applied(db.url)).map((row) => row.name),
      await migrationNames(),
    );
    assert.deepEqual(await tables(db.url), [...APP_TABLES, MIGRATIONS_TABLE].sort());
  });

  it('migrates all the way down and back up', async function () {
    await migrate(db.url);
    const count = (await migrationNames()).length;
    await migrate(db.url, { direction: 'down', count });
    assert.deepEqual(await tables(db.url), [MIGRATIONS_TABLE]);
    assert.deepEqual(await applied(db.url), []);
    await migrate(db.url);
    assert.deepEqual(await tables(db.url), [...APP_TABLES, MIGRATIONS_TABLE].sort());
  });

  it('gives turns and messages stored before tenant ids the tenant of their conversation, keeping their ids', async function () {
    await migrate(db.url, { count: 1 });
    await query(
      db.url,
      `INSERT INTO conversations (id, tenant_id) VALUES ('c1', 'acme');
       INSERT INTO turns (id, conversation_id, request_id, model) VALUES ('turn/c1/r1', 'c1', 'r1', 'm');
       INSERT INTO messages (conversation_id, turn_id, idem_key, kind, content)
         VALUES ('c1', 'turn/c1/r1', 'turn/c1/r1:user', 'user', 'hi')`,
    );
    await migrate(db.url);
    assert.deepEqual(await query(db.url, `SELECT id, tenant_id FROM turns`), [{ id: 'turn/c1/r1', tenant_id: 'acme' }]);
    assert.deepEqual(await query(db.url, `SELECT turn_id, tenant_id FROM messages`), [
      { turn_id: 'turn/c1/r1', tenant_id: 'acme' },
    ]);
    // Another tenant may now have a conversation with the same id.
    await query(db.url, `INSERT INTO conversations (id, tenant_id) VALUES ('c1', 'globex')`);
  });
});
