import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { McpConfigFile, readMcpConfigFile, resolveMcpServers, startMcpServers } from '../../activities/tools/mcp';
import { MCP_SERVER_TIME_VERSION, PROJECT_ROOT } from '../../dev';
import { haveTimeServer } from './servers';

describe('mcp: examples/mcp.json and the README', function () {
  this.timeout(60_000);

  it('starts both servers it names from the project root and offers their tools as <server>__<tool>', async function () {
    if (!(await haveTimeServer())) this.skip(); // the bootstrap says why it could not install mcp-server-time
    const file = path.join(PROJECT_ROOT, 'examples', 'mcp.json');
    const servers = await readMcpConfigFile(file);
    assert.match(JSON.stringify(servers), new RegExp(MCP_SERVER_TIME_VERSION.replace(/\./g, '\\.')), 'pinned version');
    const cwd = process.cwd();
    process.chdir(PROJECT_ROOT);
    try {
      const started = await startMcpServers(servers, { logger: pino({ level: 'silent' }), env: {} });
      try {
        const names = started.tools.map((t) => t.name);
        assert.ok(names.includes('everything__echo'), names.join(', '));
        assert.ok(names.includes('time__get_current_time'), names.join(', '));
      } finally {
        await started.close();
      }
    } finally {
      process.chdir(cwd);
    }
  });

  it('shows in the README an mcp.json of server-everything and mcp-server-time whose everything entry starts as written', async () => {
    const readme = await readFile(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
    const block = [...readme.matchAll(/```json\n([\s\S]*?)```/g)]
      .map((m) => m[1]!)
      .find((b) => b.includes('mcpServers'));
    assert.ok(block, 'a json block with mcpServers');
    const { mcpServers } = McpConfigFile.parse(JSON.parse(block));
    assert.deepEqual([...resolveMcpServers(mcpServers, {}).keys()], ['everything', 'time']);
    assert.match(JSON.stringify(mcpServers['time']), /"uvx".*"mcp-server-time"/);
    assert.match(readme, /TURNFLOW_MCP_CONFIG=mcp\.json npm run worker/);
    // npx finds server-everything in the project's own install (a devDependency): no download.
    const cwd = process.cwd();
    process.chdir(PROJECT_ROOT);
    try {
      const started = await startMcpServers(
        { everything: mcpServers['everything'] },
        { logger: pino({ level: 'silent' }), env: process.env },
      );
      try {
        assert.ok(started.tools.some((t) => t.name === 'everything__echo'));
      } finally {
        await started.close();
      }
    } finally {
      process.chdir(cwd);
    }
  });
});
