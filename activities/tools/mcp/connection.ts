import { createHash } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode,
  McpError,
  ToolListChangedNotificationSchema,
  type CallToolResult,
  type Tool as McpToolDefinition,
} from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { ResolvedEntry } from './config';
import { guarded } from './guard';

/** A tool as a server lists it, with the fingerprint that pins it. */
export interface ListedTool {
  readonly name: string;
  readonly description: string;
  readonly inputSchema: Record<string, unknown>;
  /** sha256 (hex, first 16) of name, description and input schema: changes whenever any of them does. */
  readonly fingerprint: string;
}

/** Options of one call. */
export interface CallOptions {
  readonly signal: AbortSignal;
  /** The SDK's own request timeout; set past the tool's timeout so the tool's abort (and its cancel) comes first. */
  readonly timeoutMs: number;
  readonly idempotencyKey: string;
}

/** Why a call did not get a result from the server. */
export type CallFailure =
  { readonly kind: 'transport'; readonly message: string } | { readonly kind: 'protocol'; readonly message: string };

const CLIENT_INFO = { name: 'turnflow', version: '0.1.0' } as const;
/** Meta key under which a call carries the turn's idempotency key. */
export const IDEMPOTENCY_META_KEY = 'turnflow/idempotencyKey';
const STDERR_TAIL_CHARS = 2_000;

/**
 * One configured MCP server, shared by all of a worker's turns: the SDK client, connected lazily again after a
 * transport failure (a stdio server's process is started anew), and the server's current tool list, re-read
 * when the server sends `notifications/tools/list_changed` and after every reconnect.
 */
export class McpConnection {
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private listed = new Map<string, ListedTool>();
  private stderrTail = '';
  private closed = false;
  private readonly changeListeners = new Set<() => void>();

  constructor(
    readonly name: string,
    private readonly resolved: ResolvedEntry,
    private readonly logger: Logger,
  ) {}

  /** The transport, for logs: `stdio` or `http`. */
  get transport(): 'stdio' | 'http' {
    return 'command' in this.resolved.entry ? 'stdio' : 'http';
  }

  /** Connects and reads the tool list. */
  async start(): Promise<void> {
    await this.connected();
  }

  /** The server's tools as last listed. */
  tools(): readonly ListedTool[] {
    return [...this.listed.values()];
  }

  /** Calls `listener` after every re-read of the tool list that changed or dropped a tool. */
  onToolsChanged(listener: () => void): void {
    this.changeListeners.add(listener);
  }

  /** The tool called `name` as last listed, if the server still has it. */
  tool(name: string): ListedTool | undefined {
    return this.listed.get(name);
  }

  /** The stdio server's process id (its guard's), while one runs. */
  get pid(): number | undefined {
    return this.currentTransport instanceof StdioClientTransport ? (this.currentTransport.pid ?? undefined) : undefined;
  }

  private currentTransport: Transport | undefined;

  /**
   * Calls a tool. Resolves with the server's result (`isError` results included); rejects with a
   * {@link CallFailure}-carrying {@link McpCallError} when no result came: `transport` (the server is gone or
   * unreachable; the connection is dropped so the next call starts it again) or `protocol` (the server answered
   * with a JSON-RPC error). An aborted `signal` rejects with its reason.
   */
  async call(tool: string, args: Record<string, unknown>, opts: CallOptions): Promise<CallToolResult> {
    let client: Client;
    try {
      client = await this.connected();
    } catch (err: unknown) {
      throw new McpCallError({ kind: 'transport', message: this.redact(`cannot connect: ${messageOf(err)}`) });
    }
    opts.signal.throwIfAborted();
    try {
      const result = await client.callTool(
        { name: tool, arguments: args, _meta: { [IDEMPOTENCY_META_KEY]: opts.idempotencyKey } },
        undefined,
        { signal: opts.signal, timeout: opts.timeoutMs },
      );
      return result as CallToolResult;
    } catch (err: unknown) {
      if (opts.signal.aborted) throw opts.signal.reason;
      if (err instanceof McpError && err.code !== (ErrorCode.ConnectionClosed as number)) {
        throw new McpCallError({ kind: 'protocol', message: this.redact(err.message) });
      }
      this.drop(client);
      throw new McpCallError({ kind: 'transport', message: this.redact(messageOf(err)) });
    }
  }

  /** Closes the client (a stdio server's process ends); later calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    await client?.close().catch(() => undefined);
  }

  /** The connected client, connecting first if there is none (one connection attempt at a time). */
  private connected(): Promise<Client> {
    if (this.closed) return Promise.reject(new Error('the worker is shutting down'));
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<Client> {
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    const transport = this.createTransport();
    client.onerror = (err) => this.logger.debug({ server: this.name, err: this.redact(messageOf(err)) }, 'mcp error');
    try {
      await client.connect(transport);
      this.currentTransport = transport;
      await this.readTools(client);
    } catch (err: unknown) {
      await client.close().catch(() => undefined);
      const tail = this.stderrTail.trim();
      throw new Error(this.redact(`${messageOf(err)}${tail ? `; its stderr ended with: ${tail.slice(-500)}` : ''}`), {
        cause: err,
      });
    }
    client.onclose = () => {
      if (this.client === client) this.client = undefined;
      if (!this.closed)
        this.logger.warn({ server: this.name }, 'mcp server connection closed; the next call reconnects');
    };
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      this.readTools(client).catch((err: unknown) =>
        this.logger.warn({ server: this.name, err: this.redact(messageOf(err)) }, 'mcp tool list could not be re-read'),
      );
    });
    if (this.closed) {
      await client.close().catch(() => undefined);
      throw new Error('the worker is shutting down');
    }
    this.client = client;
    return client;
  }

  private createTransport(): Transport {
    const entry = this.resolved.entry;
    if ('command' in entry) {
      const run = guarded(entry.command, entry.args ?? []);
      const transport = new StdioClientTransport({
        command: run.command,
        args: run.args,
        ...(entry.env ? { env: entry.env } : {}),
        ...(entry.cwd ? { cwd: entry.cwd } : {}),
        stderr: 'pipe',
      });
      this.stderrTail = '';
      transport.stderr?.on('data', (chunk: Buffer) => {
        this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_CHARS);
      });
      return transport;
    }
    return new StreamableHTTPClientTransport(new URL(entry.url), {
      requestInit: { headers: { ...(entry.headers ?? {}) } },
    });
  }

  /** Reads every page of the tool list and logs what changed. */
  private async readTools(client: Client): Promise<void> {
    const tools: McpToolDefinition[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor === undefined ? {} : { cursor });
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor !== undefined && tools.length < 10_000);
    const listed = new Map(tools.map((t) => [t.name, listedTool(t)] as const));
    const changed = [...listed.values()].filter((t) => this.listed.get(t.name)?.fingerprint !== t.fingerprint);
    const gone = [...this.listed.keys()].filter((name) => !listed.has(name));
    this.listed = listed;
    if (changed.length > 0 || gone.length > 0) {
      this.logger.info(
        {
          server: this.name,
          tools: Object.fromEntries(changed.map((t) => [t.name, t.fingerprint])),
          ...(gone.length > 0 ? { gone } : {}),
        },
        'mcp tools listed',
      );
      for (const listener of this.changeListeners) listener();
    }
  }

  /** Drops a client that failed: closing it ends a stdio server's process (if still alive) before the next start. */
  private drop(client: Client): void {
    if (this.client === client) this.client = undefined;
    client.close().catch(() => undefined);
  }

  /** `text` with every value that came from a `${VAR}` replaced by `***`. */
  redact(text: string): string {
    let out = text;
    for (const secret of this.resolved.secrets) if (secret.length >= 4) out = out.split(secret).join('***');
    return out;
  }
}

/** A call that got no result from the server. */
export class McpCallError extends Error {
  override readonly name = 'McpCallError';
  constructor(readonly failure: CallFailure) {
    super(failure.message);
  }
}

function listedTool(tool: McpToolDefinition): ListedTool {
  const description = tool.description ?? tool.title ?? '';
  const inputSchema = { ...tool.inputSchema } as Record<string, unknown>;
  const fingerprint = createHash('sha256')
    .update(canonicalJson({ name: tool.name, description, inputSchema }))
    .digest('hex')
    .slice(0, 16);
  return { name: tool.name, description, inputSchema, fingerprint };
}

/** JSON with object keys sorted, so equal schemas always hash alike. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
