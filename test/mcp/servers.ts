// Where the third-party MCP servers the tests run come from: @modelcontextprotocol/server-everything (a
// devDependency, run with node from node_modules) and PyPI's mcp-server-time (installed by `npm run bootstrap`
// into .tools/), plus the fixture server beside this file.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Tool as McpToolDefinition } from '@modelcontextprotocol/sdk/types.js';
import { canonicalJson } from '../../activities/tools/mcp/connection';
import { MCP_SERVER_TIME_PYTHON, PROJECT_ROOT } from '../../dev';
import { freePort } from '../support';

/** server-everything's entry script. */
export const EVERYTHING = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');

/** server-everything over stdio. */
export const everythingStdio = (extra: Record<string, unknown> = {}) => ({
  command: process.execPath,
  args: [EVERYTHING, 'stdio'],
  ...extra,
});

/** mcp-server-time over stdio (UTC as its local zone, so answers do not depend on the machine). */
export const timeStdio = (extra: Record<string, unknown> = {}) => ({
  command: MCP_SERVER_TIME_PYTHON,
  args: ['-m', 'mcp_server_time', '--local-timezone', 'UTC'],
  ...extra,
});

/** The fixture server over stdio, recording its calls in `log`. */
export const fixtureStdio = (log: string, extra: Record<string, unknown> = {}) => ({
  command: process.execPath,
  args: ['--import', 'tsx', path.join(__dirname, 'fixture-server.ts')],
  cwd: PROJECT_ROOT,
  env: { MCP_FIXTURE_LOG: log },
  ...extra,
});

/** Whether the bootstrap could install mcp-server-time (it says why not when it could not). */
export async function haveTimeServer(): Promise<boolean> {
  return access(MCP_SERVER_TIME_PYTHON).then(
    () => true,
    () => false,
  );
}

/** server-everything over Streamable HTTP on a free port, until `close()`. */
export async function everythingHttp(): Promise<{ url: string; close(): Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`server-everything did not listen: ${err}`)), 20_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      if (err.includes('listening on port')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`server-everything exited (${code}): ${err}`)));
  });
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** What the fixture server recorded: one line per call it started. */
export async function fixtureCalls(log: string): Promise<{ tool: string; key?: string; pid: number }[]> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { tool: string; key?: string; pid: number });
}

/** Polls `probe` every 50 ms until it gives a value. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A stdio entry as the test's own MCP client starts it. */
export interface StdioEntry {
  command: string;
  args: string[];
  cwd?: string;
  env?: Record<string, string>;
}

/** Runs `use` with an MCP client of the test's own connected to a stdio server (started, then closed). */
export async function withOwnClient<T>(entry: StdioEntry, use: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ name: 'turnflow-test', version: '0' });
  await client.connect(new StdioClientTransport({ ...entry, stderr: 'ignore' }));
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

/** The tools a stdio server lists to a client of the test's own. */
export async function listTools(entry: StdioEntry): Promise<McpToolDefinition[]> {
  return withOwnClient(entry, async (client) => (await client.listTools()).tools);
}

/** A tool's fingerprint as docs/mcp.md defines it: sha256 of its canonical `{ name, description, inputSchema }`. */
export function fingerprintOf(tool: McpToolDefinition): string {
  const described = {
    name: tool.name,
    description: tool.description ?? tool.title ?? '',
    inputSchema: tool.inputSchema,
  };
  return createHash('sha256').update(canonicalJson(described)).digest('hex').slice(0, 16);
}
