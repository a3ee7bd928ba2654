export { migrate, MIGRATIONS_DIR, MIGRATIONS_TABLE, type MigrateOptions } from './migrate';
export { createClient, createPool, inTransaction, isPostgresUnavailable, type ConnectionErrorHandler } from './pool';
