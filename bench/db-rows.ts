import type pg from 'pg';

/**
 * Counts the rows (and the statements that wrote any) every statement writes to the app database's tables while it is installed: a statement-level
 * trigger with a transition table on each table appends (table, op, rows) to `bench_row_counts`. Exact and
 * immediate (the statistics views lag by seconds), and blind to the schema, so it counts whatever the product
 * writes. Installed only for the db-rows phase; the triggers cost writes, so nothing is timed meanwhile.
 */
export async function installRowCounter(pool: pg.Pool): Promise<{
  reset(): Promise<void>;
  totals(): Promise<{ inserted: number; updated: number; deleted: number; statements: number }>;
  uninstall(): Promise<void>;
}> {
  const tables = (
    await pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname NOT IN ('pgmigrations', 'bench_row_counts')`,
    )
  ).rows.map((r) => r.name);
  await pool.query(
    `CREATE TABLE IF NOT EXISTS bench_row_counts (tbl text NOT NULL, op text NOT NULL, n bigint NOT NULL)`,
  );
  await pool.query(`CREATE OR REPLACE FUNCTION bench_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO bench_row_counts SELECT TG_TABLE_NAME, TG_OP, count(*) FROM changed; RETURN NULL; END $$`);
  const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
  for (const table of tables) {
    for (const [op, ref] of [
      ['INSERT', 'NEW'],
      ['UPDATE', 'NEW'],
      ['DELETE', 'OLD'],
    ] as const) {
      await pool.query(
        `CREATE TRIGGER ${ident(`bench_count_${op.toLowerCase()}`)} AFTER ${op} ON ${ident(table)}
         REFERENCING ${ref} TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bench_count_rows()`,
      );
    }
  }
  return {
    reset: async () => {
      await pool.query('TRUNCATE bench_row_counts');
    },
    totals: async () => {
      const { rows } = await pool.query<{ op: string; n: string; statements: string }>(
        'SELECT op, sum(n) AS n, count(*) FILTER (WHERE n > 0) AS statements FROM bench_row_counts GROUP BY op',
      );
      const of = (op: string) => Number(rows.find((r) => r.op === op)?.n ?? 0);
      const statements = rows.reduce((sum, r) => sum + Number(r.statements), 0);
      return { inserted: of('INSERT'), updated: of('UPDATE'), deleted: of('DELETE'), statements };
    },
    uninstall: async () => {
      for (const table of tables) {
        for (const op of ['insert', 'update', 'delete']) {
          await pool.query(`DROP TRIGGER IF EXISTS ${ident(`bench_count_${op}`)} ON ${ident(table)}`);
        }
      }
      await pool.query('DROP FUNCTION IF EXISTS bench_count_rows() CASCADE');
      await pool.query('DROP TABLE IF EXISTS bench_row_counts');
    },
  };
}
