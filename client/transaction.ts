import type pg from 'pg';

/**
 * Runs `fn` in a transaction on one pooled connection: committed if it returns, rolled back if it throws. Here, not in
 * db/, so that `turnflow/client` (which loads nothing of db/: migrations stay out of callers) can use it too.
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (db: pg.PoolClient) => Promise<T>): Promise<T> {
  const db = await pool.connect();
  try {
    await db.query('BEGIN');
    const result = await fn(db);
    await db.query('COMMIT');
    return result;
  } catch (err: unknown) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    db.release();
  }
}
