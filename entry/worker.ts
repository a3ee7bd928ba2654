// `turnflow/worker`: host `chatTurn` on your own worker, with your own tools. Runs in Node, beside the Temporal
// worker; `workflowsPath` is `turnflow/workflows` (WORKFLOWS_PATH).
export { createTurnWorker, WORKFLOWS_PATH, type TurnWorkerOptions } from '../worker/create-worker';
export { runWorkerProcess, type WorkerProcessOptions } from '../worker/process';
export { loadWorkerConfig, WorkerConfig } from '../worker/config';
// Traces (OTLP): `createTurnWorker({ tracing: startTracing(loadTracingConfig('my-worker')!) })`; a prebuilt bundle
// needs `workflowInterceptorModules: [TRACING_WORKFLOW_INTERCEPTORS]`.
export { loadTracingConfig, type TracingConfig, type Tracing } from '../tracing';
export { startTracing } from '../tracing/sdk';
export { TRACING_WORKFLOW_INTERCEPTORS } from '../tracing/worker';
export { createActivities, type Activities, type ActivityDeps } from '../activities';
export {
  builtinTools,
  calculateTool,
  createToolRegistry,
  currentTimeTool,
  defineTool,
  MAX_LOCAL_TOOL_TIMEOUT_MS,
  RetryableToolError,
  ToolConfigError,
  toolIdempotencyKey,
  ToolTimeoutError,
  UnknownToolsError,
  type ApprovalContext,
  type ApprovalRequirement,
  type BuiltinToolsOptions,
  type ToolApproval,
  type Tool,
  type ToolCallIdentity,
  type ToolConfig,
  type ToolContext,
  type ToolParameters,
  type ToolRegistry,
  type ToolRetryOptions,
} from '../activities/tools';
export {
  IDEMPOTENCY_META_KEY as MCP_IDEMPOTENCY_META_KEY,
  McpConfigError,
  McpServerStartError,
  readMcpConfigFile,
  type McpServersConfig,
} from '../activities/tools/mcp';
export { createPool, migrate, MIGRATIONS_DIR, type MigrateOptions } from '../db';
export { ConfigError, TemporalEnv, temporalConnectionOptions, type TemporalConnectionOptions } from '../config';
