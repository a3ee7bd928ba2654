export { CHROMIUM_PATH, ChromiumMissingError, ensureChromium } from './chromium';
export { CommandError, exec, execOrThrow, isExecutable, isRoot, whichOnPath } from './exec';
export type { ExecOptions, ExecResult } from './exec';
export { DATA_DIR, PROJECT_ROOT, TOOLS_DIR } from './paths';
export {
  APP_DATABASE,
  chownForPostgres,
  createDatabase,
  databaseUrlFor,
  dropDatabase,
  ensureLocalPostgres,
  LOCAL_PG_DATA,
  LOCAL_PG_PORT,
  LocalPostgresError,
  noteBootstrapStart,
  runPostgresTool,
  stopLocalPostgres,
  takeBootstrapStart,
} from './postgres';
export type { EnsureLocalPostgresOptions, LocalPostgres } from './postgres';
export { searchAttributeCliArgs, searchAttributeKeys } from './search-attributes';
export {
  PINNED_TEMPORAL_CLI_PATH,
  resolveTemporalCli,
  TEMPORAL_CLI_GO_VERSION,
  TEMPORAL_CLI_VERSION,
  TemporalCliError,
  devServerDynamicConfigArgs,
  DEV_SERVER_DYNAMIC_CONFIG,
  EAGER_ACTIVITIES,
} from './temporal-cli';
export type { ResolveTemporalCliOptions } from './temporal-cli';
export { Supervisor } from './supervisor';
export type { ChildExit, ChildSpec } from './supervisor';
export {
  DEV_SERVER_DB_FILE,
  DEV_SERVER_PORTS,
  devServerArgs,
  isTemporalReachable,
  waitForTemporal,
} from './temporal-server';
export { freePort, stablePort, waitForPort } from './ports';
export { throwawayPostgres, type ThrowawayPostgres } from './throwaway-postgres';
export { restartableDevServer, type RestartableDevServer } from './dev-server';
export { ensureMcpServerTime, MCP_SERVER_TIME_PYTHON, MCP_SERVER_TIME_VERSION } from './mcp-time-server';
