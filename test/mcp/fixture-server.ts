// A small MCP server (the official SDK's McpServer over stdio) for what the third-party servers cannot show: it
// records every call it starts (tool, idempotency key from `_meta`, its pid) as a JSON line in $MCP_FIXTURE_LOG,
// and changes a tool's schema on request (its change_lookup tool, or a line written to $MCP_FIXTURE_CONTROL while
// it runs), announcing `notifications/tools/list_changed`.
import { appendFileSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const log = process.env['MCP_FIXTURE_LOG'];
const record = (tool: string, meta: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}) => {
  if (log) {
    const key = meta?.['turnflow/idempotencyKey'];
    appendFileSync(log, `${JSON.stringify({ tool, key, pid: process.pid, ...extra })}\n`);
  }
};

const server = new McpServer({ name: 'turnflow-fixture', version: '1.0.0' });

server.registerTool(
  'slow_echo',
  { description: 'Echoes the text after waiting ms milliseconds.', inputSchema: { text: z.string(), ms: z.number() } },
  async ({ text, ms }, extra) => {
    record('slow_echo', extra._meta);
    try {
      await sleep(ms, undefined, { signal: extra.signal });
    } catch {
      record('slow_echo.cancelled', extra._meta);
      throw new Error('cancelled');
    }
    return { content: [{ type: 'text', text: `echo: ${text}` }] };
  },
);

const lookup = server.registerTool(
  'lookup',
  { description: 'Looks a key up.', inputSchema: { key: z.string() } },
  ({ key }, extra) => {
    record('lookup', extra._meta);
    return { content: [{ type: 'text', text: `value of ${key}` }] };
  },
);

server.registerTool(
  'change_lookup',
  { description: 'Changes the schema of lookup (or removes it).', inputSchema: { remove: z.boolean() } },
  ({ remove }) => {
    if (remove) lookup.remove();
    else lookup.update({ paramsSchema: { key: z.string(), version: z.number() } });
    return { content: [{ type: 'text', text: remove ? 'lookup removed' : 'lookup changed' }] };
  },
);

// A server that dies in the middle of every call of this tool (its process exits before it answers).
server.registerTool('crash', { description: 'Dies mid-call.', inputSchema: {} }, (_args, extra) => {
  record('crash', extra._meta);
  process.exit(1);
});

// A tool of any name a test asks for (e.g. one with a dot, which MCP allows and model providers refuse).
const extraTool = process.env['MCP_FIXTURE_EXTRA_TOOL'];
if (extraTool) {
  server.registerTool(extraTool, { description: 'A tool named by the test.', inputSchema: {} }, () => ({
    content: [{ type: 'text', text: 'extra' }],
  }));
}

// A test changes `lookup` from outside while a turn runs: `change` or `remove` written to the control file.
const control = process.env['MCP_FIXTURE_CONTROL'];
if (control) {
  let applied = '';
  setInterval(() => {
    let wanted: string;
    try {
      wanted = readFileSync(control, 'utf8').trim();
    } catch {
      return; // not written yet
    }
    if (wanted === applied) return;
    applied = wanted;
    if (wanted === 'remove') lookup.remove();
    else if (wanted === 'change') lookup.update({ paramsSchema: { key: z.string(), version: z.number() } });
  }, 25).unref();
}

server.connect(new StdioServerTransport()).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
