import type { Logger } from 'pino';
import type { Tool } from '../define';
import { createToolRegistry, type ToolRegistry } from '../registry';
import { resolveMcpServers, type ResolvedEntry } from './config';
import { McpConnection } from './connection';
import { McpConfigError, McpServerStartError } from './errors';
import { mcpTool, mcpToolNameProblem } from './tools';

/** The started servers of a worker and the tools they offer. */
export interface McpServers {
  /** Each started server's tools, as `<server>__<tool>`, in server then list order. */
  readonly tools: readonly Tool[];
  /** The started servers. */
  readonly connections: readonly McpConnection[];
  /**
   * Calls `listener` whenever a server's re-read tool list changed or dropped a tool after the start (its
   * `notifications/tools/list_changed`, or a reconnect that found other tools).
   */
  onToolsChanged(listener: () => void): void;
  /** Closes every server (a stdio server's process ends). Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link startMcpServers}. */
export interface StartMcpServersOptions {
  logger: Logger;
  /** Where `${VAR}` references are read. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts every configured server (in parallel), reads its tools and makes each a turnflow tool named
 * `<server>__<tool>`. A server that cannot start stops the start-up with {@link McpServerStartError}, unless its
 * entry says `required: false`: then it is logged and left out. Every server already started is closed before
 * an error is thrown.
 *
 * @throws {@link McpConfigError} for a bad configuration or a tool name that cannot be offered.
 */
export async function startMcpServers(
  servers: Readonly<Record<string, unknown>>,
  opts: StartMcpServersOptions,
): Promise<McpServers> {
  const resolved = resolveMcpServers(servers, opts.env);
  const logger = opts.logger;
  type Started =
    | { name: string; connection: McpConnection; entry: ResolvedEntry }
    | { name: string; failed: string; required: boolean };
  const started = await Promise.all(
    [...resolved].map(async ([name, entry]): Promise<Started> => {
      const connection = new McpConnection(name, entry, logger);
      try {
        await connection.start();
        return { name, connection, entry };
      } catch (err: unknown) {
        await connection.close();
        const reason = err instanceof Error ? err.message : String(err);
        return { name, failed: reason, required: entry.entry.required ?? true };
      }
    }),
  );
  const connections: McpConnection[] = [];
  const failures: McpServerStartError[] = [];
  for (const s of started) {
    if ('connection' in s) connections.push(s.connection);
    else if (s.required) failures.push(new McpServerStartError(s.name, s.failed));
    else
      logger.warn({ server: s.name, reason: s.failed }, 'optional MCP server not started; running without its tools');
  }
  const close = async (): Promise<void> => {
    await Promise.all(connections.map((c) => c.close()));
  };
  if (failures.length > 0) {
    await close();
    throw failures.length === 1
      ? failures[0]!
      : new AggregateError(failures, failures.map((f) => f.message).join('; '));
  }
  const problems: string[] = [];
  const tools: Tool[] = [];
  for (const s of started) {
    if (!('connection' in s)) continue;
    const policy = { timeoutMs: s.entry.entry.timeoutMs, maxAttempts: s.entry.entry.maxAttempts };
    for (const listed of s.connection.tools()) {
      const problem = mcpToolNameProblem(s.name, listed.name);
      if (problem) problems.push(problem);
      else tools.push(mcpTool(s.connection, listed, policy));
    }
    logger.info(
      {
        server: s.name,
        transport: s.connection.transport,
        tools: Object.fromEntries(s.connection.tools().map((t) => [t.name, t.fingerprint])),
      },
      'mcp server started',
    );
  }
  if (problems.length > 0) {
    await close();
    throw new McpConfigError(problems);
  }
  const onToolsChanged = (listener: () => void): void => {
    for (const connection of connections) connection.onToolsChanged(listener);
  };
  return { tools, connections, onToolsChanged, close };
}

/**
 * `registry` plus the MCP tools.
 * @throws {@link McpConfigError} naming an MCP tool whose name a tool of `registry` (or another MCP tool) has.
 */
export function withMcpTools(registry: ToolRegistry, tools: readonly Tool[]): ToolRegistry {
  if (tools.length === 0) return registry;
  const taken = new Set(registry.names);
  const problems: string[] = [];
  for (const tool of tools) {
    if (taken.has(tool.name)) problems.push(`the MCP tool "${tool.name}" has the name of another tool of the worker`);
    taken.add(tool.name);
  }
  if (problems.length > 0) throw new McpConfigError(problems);
  return createToolRegistry([...registry.names.map((name) => registry.get(name)!), ...tools]);
}
