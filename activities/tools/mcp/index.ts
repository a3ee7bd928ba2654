export {
  McpConfigFile,
  McpHttpServerEntry,
  McpServerEntry,
  McpStdioServerEntry,
  MCP_SERVER_NAME_PATTERN,
  readMcpConfigFile,
  resolveMcpServers,
  type McpServersConfig,
} from './config';
export { IDEMPOTENCY_META_KEY, McpConnection, type ListedTool } from './connection';
export { contentText } from './content';
export { McpConfigError, McpServerStartError } from './errors';
export { startMcpServers, withMcpTools, type McpServers, type StartMcpServersOptions } from './servers';
export { mcpToolName, MCP_NAME_SEPARATOR } from './tools';
