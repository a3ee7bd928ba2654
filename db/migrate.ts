import path from 'node:path';
import { runner } from 'node-pg-migrate';
import { createClient } from './pool';

/** Folder of the SQL migrations, each `<ms-timestamp>_<name>.sql` with `-- Up Migration` / `-- Down Migration`. */
export const MIGRATIONS_DIR = path.join(__dirname, 'migrations');

/** Table in which node-pg-migrate records applied migrations. */
export const MIGRATIONS_TABLE = 'pgmigrations';

/** Options for {@link migrate}. */
export interface MigrateOptions {
  /**
   * Which way to migrate.
   * @default 'up'
   */
  direction?: 'up' | 'down';
  /**
   * How many migrations to apply.
   * @default all pending migrations going up, one going down
   */
  count?: number;
  /**
   * Receives node-pg-migrate's progress lines.
   * @default silent
   */
  log?: (line: string) => void;
}

/**
 * Brings the database at `databaseUrl` up to date with `db/migrations/*.sql`, all in one transaction.
 * Holds node-pg-migrate's advisory lock and waits for it, so processes starting together (workers, tests)
 * apply each migration exactly once. A no-op when nothing is pending.
 */
export async function migrate(databaseUrl: string, options: MigrateOptions = {}): Promise<void> {
  const log = options.log ?? (() => undefined);
  const direction = options.direction ?? 'up';
  // Our own client, so a connection dropped mid-migration rejects the migration instead of killing the process
  // (node-pg-migrate's client has no 'error' listener).
  const dbClient = createClient(databaseUrl, (err) => log(`migration connection failed: ${err.message}`));
  await dbClient.connect();
  try {
    await runner({
      dbClient,
      dir: MIGRATIONS_DIR,
      migrationsTable: MIGRATIONS_TABLE,
      direction,
      count: options.count ?? (direction === 'up' ? Infinity : 1),
      checkOrder: true,
      singleTransaction: true,
      advisoryLockMode: 'wait',
      logger: { info: log, warn: log, error: log },
    });
  } finally {
    await dbClient.end().catch(() => undefined);
  }
}
