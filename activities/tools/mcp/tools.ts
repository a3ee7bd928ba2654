import { z } from 'zod';
import { defineTool, type Tool } from '../define';
import { RetryableToolError } from '../errors';
import { DEFAULT_TOOL_TIMEOUT_MS } from '../policy';
import { TOOL_NAME_PATTERN } from '../registry';
import { McpCallError, type ListedTool, type McpConnection } from './connection';
import { contentText } from './content';

/** Separates a server's name from its tool's in the name the model calls. */
export const MCP_NAME_SEPARATOR = '__';

/** The name the model calls a server's tool by. */
export function mcpToolName(server: string, tool: string): string {
  return `${server}${MCP_NAME_SEPARATOR}${tool}`;
}

/** Why a server's tool cannot be offered under its `<server>__<tool>` name, or `undefined`. */
export function mcpToolNameProblem(server: string, tool: string): string | undefined {
  const name = mcpToolName(server, tool);
  if (TOOL_NAME_PATTERN.test(name)) return undefined;
  return (
    `server "${server}": tool "${tool}" cannot be offered as "${name}": names must match ` +
    `${TOOL_NAME_PATTERN.source} (rename the server to something shorter, or leave the server out)`
  );
}

/** What a server's entry says about calls: the tool policy of each of its tools. */
export interface McpCallPolicy {
  readonly timeoutMs?: number | undefined;
  readonly maxAttempts?: number | undefined;
}

/** Any JSON object: the server validates the arguments against its own schema. */
const AnyObject = z.record(z.string(), z.unknown());

/** Slack between the tool's timeout (which cancels the request) and the SDK's own request timeout. */
const SDK_TIMEOUT_SLACK_MS = 5_000;

/**
 * The turnflow tool that calls `listed` on `connection`. Offered to the model with the server's current
 * description and input schema. Each call:
 * - carries the call's idempotency key in `_meta` (`turnflow/idempotencyKey`) and is cancelled on the server
 *   (`notifications/cancelled`, sent by the SDK when the request's signal aborts) on timeout or stop;
 * - a result with `isError: true`, or a JSON-RPC error from the server, is the tool's error for the model, never
 *   retried;
 * - a server that cannot be reached (or whose process died) is a `RetryableToolError`: Temporal retries the call
 *   under the same idempotency key, and the connection (a stdio server's process) is started again first.
 */
export function mcpTool(connection: McpConnection, listed: ListedTool, policy: McpCallPolicy): Tool {
  const server = connection.name;
  const name = mcpToolName(server, listed.name);
  const fallbackDescription = `Tool "${listed.name}" of the MCP server "${server}".`;
  return defineTool({
    name,
    description: listed.description.trim() || fallbackDescription,
    parameters: AnyObject,
    ...(policy.timeoutMs === undefined ? {} : { timeoutMs: policy.timeoutMs }),
    ...(policy.maxAttempts === undefined ? {} : { retry: { maximumAttempts: policy.maxAttempts } }),
    describe() {
      const current = connection.tool(listed.name);
      const shown = current ?? listed;
      return {
        description: shown.description.trim() || fallbackDescription,
        parameters: shown.inputSchema,
        fingerprint: shown.fingerprint,
        available: current !== undefined,
      };
    },
    async execute(args, ctx) {
      const timeoutMs = Math.max(1, ctx.deadline.getTime() - Date.now()) + SDK_TIMEOUT_SLACK_MS;
      let result;
      try {
        result = await connection.call(listed.name, args, {
          signal: ctx.signal,
          timeoutMs: Math.min(timeoutMs, (policy.timeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS) + SDK_TIMEOUT_SLACK_MS),
          idempotencyKey: ctx.idempotencyKey,
        });
      } catch (err: unknown) {
        if (err instanceof McpCallError) {
          if (err.failure.kind === 'transport') {
            throw new RetryableToolError(`the MCP server "${server}" could not be reached: ${err.failure.message}`, {
              cause: err,
            });
          }
          throw new Error(`the MCP server "${server}" answered with an error: ${err.failure.message}`, { cause: err });
        }
        throw err;
      }
      const text = contentText(result);
      if (result.isError === true) throw new Error(text.trim() || 'the tool reported an error without a message');
      return text;
    },
  });
}
