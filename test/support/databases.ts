import { randomUUID } from 'node:crypto';
import { createDatabase, databaseUrlFor, dropDatabase, ensureLocalPostgres } from '../../dev';

/** An empty database of its own, for tests that need a schema-less or throwaway database. */
export interface ScratchDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty database (not migrated) on the development Postgres server (or `DATABASE_URL`'s server). */
export async function createScratchDatabase(prefix = 'scratch'): Promise<ScratchDatabase> {
  const { adminUrl } = await ensureLocalPostgres();
  const name = `turnflow_${prefix}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  await createDatabase(adminUrl, name);
  return { url: databaseUrlFor(adminUrl, name), drop: () => dropDatabase(adminUrl, name) };
}
