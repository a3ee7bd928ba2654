import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { LogLevel } from '@temporalio/worker';
import pg from 'pg';
import { migrate } from '../../db';
import {
  createDatabase,
  databaseUrlFor,
  devServerDynamicConfigArgs,
  dropDatabase,
  ensureLocalPostgres,
  resolveTemporalCli,
  searchAttributeKeys,
} from '../../dev';
import { registerGlobalTeardown } from './teardown';

/** Shared infrastructure for integration tests: one per mocha run, created on first use. */
export interface TestEnv {
  /** A local Temporal dev server with the project's search attributes registered. */
  temporal: TestWorkflowEnvironment;
  /** A database created for this run, migrated, dropped when the run ends. */
  databaseUrl: string;
  /** A pool on {@link TestEnv.databaseUrl}. */
  pool: pg.Pool;
}

const TEST_DB_PREFIX = 'turnflow_test_';
/** Test databases older than this are leftovers of runs that were killed before teardown. */
const STALE_AFTER_SECONDS = 6 * 3600;

let pending: Promise<TestEnv> | undefined;
let teardownSteps: (() => Promise<void>)[] = [];

/**
 * The run's {@link TestEnv}. Started on the first call (Temporal and Postgres in parallel) and shared by every
 * later call, so pure unit tests that never call it pay nothing. Torn down by `mochaGlobalTeardown`.
 */
export function testEnv(): Promise<TestEnv> {
  if (!pending) {
    pending = createTestEnv();
    registerGlobalTeardown(teardownTestEnv);
  }
  return pending;
}

/** Stops what {@link testEnv} started, in reverse order; a no-op when it was never called. */
export async function teardownTestEnv(): Promise<void> {
  if (!pending) return;
  await pending.catch(() => undefined);
  pending = undefined;
  await runTeardownSteps();
}

async function runTeardownSteps(): Promise<void> {
  const steps = teardownSteps.reverse();
  teardownSteps = [];
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err: unknown) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, 'test environment teardown failed');
}

/** A fresh, readable id such as `wf-3f2a9c1e…` so tests never collide. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${randomUUID()}`;
}

/** A fresh task queue per test, so a test's worker never picks up another test's tasks. */
export function uniqueTaskQueue(prefix = 'test'): string {
  return uniqueId(`tq-${prefix}`);
}

async function createTestEnv(): Promise<TestEnv> {
  const [temporal, database] = await Promise.allSettled([startTemporal(), createTestDatabase()]);
  if (temporal.status === 'rejected' || database.status === 'rejected') {
    await runTeardownSteps().catch(() => undefined);
    throw temporal.status === 'rejected' ? temporal.reason : (database as PromiseRejectedResult).reason;
  }
  const pool = new pg.Pool({ connectionString: database.value, max: 10 });
  teardownSteps.push(() => pool.end());
  return { temporal: temporal.value, databaseUrl: database.value, pool };
}

async function startTemporal(): Promise<TestWorkflowEnvironment> {
  installQuietRuntime();
  const path = await resolveTemporalCli();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path },
      searchAttributes: searchAttributeKeys(),
      extraArgs: devServerDynamicConfigArgs(),
      // The server's own warnings (e.g. a task cancelled because a test stopped its worker) are noise here.
      log: { format: 'pretty', level: process.env['TEMPORAL_SERVER_LOG_LEVEL'] ?? 'error' },
    },
  });
  teardownSteps.push(() => env.teardown());
  return env;
}

/**
 * Keeps SDK logs (worker state changes, bundle reports) out of test output unless `TEMPORAL_LOG_LEVEL` asks for
 * them. Must run before anything instantiates the Runtime; if a test already did, its choice stands.
 */
function installQuietRuntime(): void {
  const level = (process.env['TEMPORAL_LOG_LEVEL'] ?? 'ERROR') as LogLevel;
  try {
    Runtime.install({ logger: new DefaultLogger(level) });
  } catch {
    // Runtime already installed or instantiated.
  }
}

async function createTestDatabase(): Promise<string> {
  const { adminUrl } = await ensureLocalPostgres();
  await dropStaleTestDatabases(adminUrl);
  const now = Math.floor(Date.now() / 1000);
  const name = `${TEST_DB_PREFIX}${now}_${randomUUID().slice(0, 8)}`;
  await createDatabase(adminUrl, name);
  teardownSteps.push(() => dropDatabase(adminUrl, name));
  const databaseUrl = databaseUrlFor(adminUrl, name);
  await migrate(databaseUrl);
  return databaseUrl;
}

async function dropStaleTestDatabases(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  let names: string[];
  try {
    const { rows } = await client.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE starts_with(datname, $1)',
      [TEST_DB_PREFIX],
    );
    names = rows.map((row) => row.datname);
  } finally {
    await client.end();
  }
  const cutoff = Date.now() / 1000 - STALE_AFTER_SECONDS;
  for (const name of names) {
    const created = Number(name.slice(TEST_DB_PREFIX.length).split('_')[0]);
    if (Number.isFinite(created) && created < cutoff) await dropDatabase(adminUrl, name);
  }
}
