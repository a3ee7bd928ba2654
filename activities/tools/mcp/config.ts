import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { McpConfigError } from './errors';

/** Names a server can have: they prefix its tools (`<server>__<tool>`), so no `__` inside. */
export const MCP_SERVER_NAME_PATTERN = /^(?!.*__)[a-zA-Z0-9_-]{1,32}$/;

const PositiveMs = z
  .number()
  .int()
  .positive()
  .max(24 * 60 * 60 * 1000);

/** What every entry may say besides how to reach the server. */
const Common = {
  /**
   * Time budget of one call, in milliseconds (like every tool's `timeoutMs`).
   * @default 30000
   */
  timeoutMs: PositiveMs.optional(),
  /**
   * Attempts of one call in all, when the server cannot be reached or its process died (a result with
   * `isError: true` is never retried).
   * @default 3
   */
  maxAttempts: z.number().int().min(1).max(100).optional(),
  /**
   * Whether the worker refuses to start without this server.
   * @default true
   */
  required: z.boolean().optional(),
};

const StringMap = z.record(z.string(), z.string());

/** A server the worker starts as a child process and talks to over stdin/stdout. */
export const McpStdioServerEntry = z.strictObject({
  type: z.literal('stdio').optional(),
  command: z.string().min(1),
  args: z.array(z.string()).optional(),
  /** Variables the process gets besides a minimal safe set (`HOME`, `PATH`, …). */
  env: StringMap.optional(),
  cwd: z.string().min(1).optional(),
  ...Common,
});
/** A server the worker starts as a child process and talks to over stdin/stdout. */
export type McpStdioServerEntry = z.infer<typeof McpStdioServerEntry>;

/** A server reached over Streamable HTTP. */
export const McpHttpServerEntry = z.strictObject({
  type: z.enum(['http', 'streamable-http', 'streamableHttp']).optional(),
  url: z.string().min(1),
  headers: StringMap.optional(),
  ...Common,
});
/** A server reached over Streamable HTTP. */
export type McpHttpServerEntry = z.infer<typeof McpHttpServerEntry>;

/** One entry of `mcpServers`: `{ command, args, env }` or `{ url, headers }`. */
export const McpServerEntry = z.union([McpStdioServerEntry, McpHttpServerEntry]);
/** One entry of `mcpServers`. */
export type McpServerEntry = z.infer<typeof McpServerEntry>;

/** The servers a worker uses, by name: the value of `mcpServers` in the common `mcp.json` shape. */
export type McpServersConfig = Record<string, McpServerEntry>;

/** The whole file `TURNFLOW_MCP_CONFIG` names (other top-level keys are ignored, as other clients do). */
export const McpConfigFile = z.looseObject({ mcpServers: z.record(z.string(), z.unknown()) });

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** An entry with every `${VAR}` replaced, and the values that came from variables (to redact from messages). */
export interface ResolvedEntry {
  readonly entry: McpServerEntry;
  readonly secrets: readonly string[];
}

/**
 * Validates `servers` and expands `${VAR}` (and `${VAR:-default}`) in every string an entry holds, from `env`.
 * The configuration as written (with the references, not the values) is what may be logged.
 *
 * @throws {@link McpConfigError} naming every bad server name, bad entry and unset variable (never a value).
 */
export function resolveMcpServers(
  servers: Readonly<Record<string, unknown>>,
  env: NodeJS.ProcessEnv = process.env,
): Map<string, ResolvedEntry> {
  const problems: string[] = [];
  const resolved = new Map<string, ResolvedEntry>();
  for (const [name, raw] of Object.entries(servers)) {
    if (!MCP_SERVER_NAME_PATTERN.test(name)) {
      problems.push(
        `server "${name}": the name must match ${MCP_SERVER_NAME_PATTERN.source} (letters, digits, _ and -, ` +
          'at most 32, no "__") since its tools are offered as <server>__<tool>',
      );
      continue;
    }
    const parsed = McpServerEntry.safeParse(raw);
    if (!parsed.success) {
      problems.push(
        `server "${name}": expected { command, args?, env? } or { url, headers? }: ${shortIssues(parsed.error)}`,
      );
      continue;
    }
    const secrets: string[] = [];
    const missing = new Set<string>();
    const expand = (text: string): string =>
      text.replace(VARIABLE, (_match, variable: string, fallback: string | undefined) => {
        const value = env[variable];
        if (value !== undefined && value !== '') {
          secrets.push(value);
          return value;
        }
        if (fallback !== undefined) return fallback;
        missing.add(variable);
        return '';
      });
    const entry = expandStrings(parsed.data, expand);
    if (missing.size > 0) {
      problems.push(`server "${name}": environment variable(s) not set: ${[...missing].join(', ')}`);
      continue;
    }
    if ('url' in entry && !isHttpUrl(entry.url)) {
      problems.push(`server "${name}": url must be an http(s) URL`);
      continue;
    }
    resolved.set(name, { entry, secrets });
  }
  if (problems.length > 0) throw new McpConfigError(problems);
  return resolved;
}

/**
 * Reads the file `TURNFLOW_MCP_CONFIG` names: `{ "mcpServers": { … } }`.
 * @throws {@link McpConfigError} when it cannot be read or is not that shape.
 */
export async function readMcpConfigFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err: unknown) {
    throw new McpConfigError([`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`], {
      cause: err,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err: unknown) {
    throw new McpConfigError([`${file}: not JSON (${err instanceof Error ? err.message : String(err)})`]);
  }
  const parsed = McpConfigFile.safeParse(json);
  if (!parsed.success) throw new McpConfigError([`${file}: expected { "mcpServers": { "<name>": { … } } }`]);
  return parsed.data.mcpServers;
}

function expandStrings<T>(value: T, expand: (text: string) => string): T {
  if (typeof value === 'string') return expand(value) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => expandStrings(item, expand)) as T;
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandStrings(v, expand)])) as T;
  }
  return value;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** The paths and messages of a zod error on one line; never the values (they may hold secrets). */
function shortIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 4)
    .map((issue) => `${issue.path.join('.') || '(entry)'}: ${issue.message}`)
    .join('; ');
}
