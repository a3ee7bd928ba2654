export { migrate, MIGRATIONS_DIR, MIGRATIONS_TABLE, type MigrateOptions } from './migrate';
