export { migrate, MIGRATIONS_DIR, MIGRATIONS_TABLE, type MigrateOptions } from './migrate';
export { createClient, createPool, isPostgresUnavailable, type ConnectionErrorHandler } from './pool';
