/**
 * Error classes of the MCP layer. Configuration and start-up problems stop the worker; a call's own failures
 * reach the model as tool errors (see `tools.ts`).
 *
 * @module
 */

/** Options shared by our error classes; `cause` is always passed on to `Error`. */
interface ErrorOptions {
  readonly cause?: unknown;
}

/**
 * Thrown at start-up when the MCP configuration is invalid: a file that cannot be read or parsed, an entry that
 * is neither `{ command }` nor `{ url }`, a server name or tool name that cannot be offered as `<server>__<tool>`,
 * two tools offered under one name, or a `${VAR}` naming an unset variable. `problems` lists each, one a line;
 * no secret value is ever part of it (variables are named, not expanded).
 */
export class McpConfigError extends Error {
  override readonly name = 'McpConfigError';
  /** Every problem found, each naming the server (and tool) it concerns. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[], options: ErrorOptions = {}) {
    super(`Invalid MCP configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, options);
    this.problems = problems;
  }
}

/**
 * Thrown at start-up when a server whose entry is `required` (the default) cannot be started or does not answer
 * `initialize` and `tools/list`. A server with `required: false` is logged and left out instead.
 */
export class McpServerStartError extends Error {
  override readonly name = 'McpServerStartError';
  /** The server's name in the configuration. */
  readonly server: string;

  constructor(server: string, reason: string, options: ErrorOptions = {}) {
    super(`MCP server "${server}" could not start: ${reason}`, options);
    this.server = server;
  }
}
