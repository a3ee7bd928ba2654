import assert from 'node:assert/strict';
import pino from 'pino';
import { z } from 'zod';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createToolRegistry, defineTool, type ToolContext } from '../../activities/tools';
import {
  McpConfigError,
  McpServerStartError,
  startMcpServers,
  withMcpTools,
  type McpServers,
} from '../../activities/tools/mcp';
import { everythingStdio, fixtureStdio, withOwnClient } from './servers';

/** Where the worker's log lines go in these tests. */
function capturedLogger() {
  const lines: { msg: string; [key: string]: unknown }[] = [];
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) },
  );
  return { lines, logger };
}

const context = (): ToolContext => ({
  idempotencyKey: 'key-1',
  signal: new AbortController().signal,
  deadline: new Date(Date.now() + 30_000),
  turnId: 'turn/acme/c/r',
  hop: 0,
  toolCallId: 'call_1',
});

/** What docs/mcp.md promises the model reads of each part: text as text, every other part one summary line. */
function summarised(result: CallToolResult): string {
  return result.content
    .map((part) => {
      switch (part.type) {
        case 'text':
          return part.text;
        case 'image':
        case 'audio':
          return `[${part.type}: ${part.mimeType}, ${Buffer.from(part.data, 'base64').length} bytes, not shown]`;
        case 'resource': {
          const r = part.resource;
          const size =
            'text' in r ? `${r.text.length} characters of text` : `${Buffer.from(r.blob, 'base64').length} bytes`;
          return `[resource: ${r.uri}${r.mimeType ? `, ${r.mimeType}` : ''}, ${size}, not shown]`;
        }
        case 'resource_link':
          return `[resource link: ${part.uri}${part.mimeType ? `, ${part.mimeType}` : ''} (${part.name})]`;
      }
    })
    .join('\n');
}

describe('MCP servers at start, and what the model reads of their results', function () {
  this.timeout(60_000);
  const silent = pino({ level: 'silent' });
  let started: McpServers | undefined;
  afterEach(async () => {
    await started?.close();
    started = undefined;
  });

  it('summarises images and resources in text (type, size, URI), keeping the text parts around them', async () => {
    started = await startMcpServers({ everything: everythingStdio() }, { logger: silent });
    const tool = (name: string) => started!.tools.find((t) => t.name === `everything__${name}`)!;
    const calls: [string, Record<string, unknown>][] = [
      ['get-tiny-image', {}],
      ['get-resource-reference', { resourceType: 'Text', resourceId: 1 }],
      ['get-resource-reference', { resourceType: 'Blob', resourceId: 2 }],
      ['get-resource-links', { count: 2 }],
    ];
    for (const [name, args] of calls) {
      // The same call from a client of the test's own: the parts the server sends.
      const raw = (await withOwnClient(everythingStdio(), (client) =>
        client.callTool({ name, arguments: args }),
      )) as CallToolResult;
      const types = raw.content.map((part) => part.type);
      assert.ok(
        types.some((type) => type !== 'text'),
        `${name} sends more than text: ${types.join(', ')}`,
      );
      const read = await tool(name).execute(args, context());
      assert.equal(read, summarised(raw), name);
    }
  });

  it('stops the start naming a server that cannot start; with required: false it runs without it and says so', async () => {
    const broken = { command: '/nonexistent/mcp-server' };
    await assert.rejects(
      startMcpServers({ broken, everything: everythingStdio() }, { logger: silent }),
      (err: unknown) => err instanceof McpServerStartError && err.server === 'broken' && /"broken"/.test(err.message),
    );
    const { lines, logger } = capturedLogger();
    started = await startMcpServers(
      { broken: { ...broken, required: false }, everything: everythingStdio() },
      { logger },
    );
    assert.ok(started.tools.length > 0);
    assert.ok(started.tools.every((t) => t.name.startsWith('everything__')));
    const said = lines.find((l) => l.msg === 'optional MCP server not started; running without its tools');
    assert.equal(said?.['server'], 'broken');
  });

  it('refuses a tool name providers would not accept, and an MCP tool with the name of another tool, naming each', async () => {
    // MCP allows dots in tool names; the providers' function names do not.
    const fixture = fixtureStdio('', { env: { MCP_FIXTURE_EXTRA_TOOL: 'search.v2' } });
    await assert.rejects(
      startMcpServers({ fixture }, { logger: silent }),
      (err: unknown) =>
        err instanceof McpConfigError &&
        err.problems.length === 1 &&
        err.problems[0]!.startsWith('server "fixture": tool "search.v2" cannot be offered as "fixture__search.v2"'),
    );
    started = await startMcpServers({ everything: everythingStdio() }, { logger: silent });
    const mine = defineTool({
      name: 'everything__echo',
      description: 'A tool of the worker with the name of an MCP tool.',
      parameters: z.object({}),
      execute: () => Promise.resolve('mine'),
    });
    assert.throws(
      () => withMcpTools(createToolRegistry([mine]), started!.tools),
      (err: unknown) =>
        err instanceof McpConfigError &&
        err.problems.length === 1 &&
        err.problems[0]!.includes('"everything__echo" has the name of another tool'),
    );
  });
});
