import assert from 'node:assert/strict';
import path from 'node:path';
import pino from 'pino';
import { readMcpConfigFile, startMcpServers } from '../../activities/tools/mcp';
import { MCP_SERVER_TIME_VERSION, PROJECT_ROOT } from '../../dev';
import { haveTimeServer } from './servers';

describe('mcp: examples/mcp.json', function () {
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
});
