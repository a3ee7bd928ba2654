import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { gatewayHarness, TOKENS, type GatewayHarness } from '../gateway/harness';
import { finalMessage } from '../turn/harness';

const ROOT = path.resolve(__dirname, '..', '..');

/** Runs `turnflow chat` as a user would, collecting its output and exit status. */
function chat(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli', 'turnflow.ts'), 'chat', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('turnflow chat', function () {
  this.timeout(120_000);
  let g: GatewayHarness;

  beforeEach(async () => {
    g = await gatewayHarness();
  });
  afterEach(async () => {
    await g.close();
  });

  it('streams the answer to stdout, marks tool calls and results, and exits 0', async () => {
    g.h.llm.enqueue(
      {
        steps: [
          { text: 'Working it out. ' },
          { toolCalls: [{ id: 'c1', name: 'calculate', arguments: '{"expression":"12*(3+4)"}' }] },
        ],
      },
      { steps: [{ text: 'The answer is 84.' }] },
    );
    const run = await g.h.withWorker(() =>
      chat([
        'what is 12*(3+4)?',
        '--conversation',
        g.h.conversationId,
        '--request',
        'cli-req-1',
        '--url',
        g.server.url,
        '--token',
        TOKENS.acme,
      ]),
    );

    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'Working it out. The answer is 84.\n');
    assert.match(run.stderr, /Executing 1 tool\(s\)\.\.\. calculate\(\{"expression":"12\*\(3\+4\)"\}\)/);
    assert.match(run.stderr, /↳ calculate: .*84/);
    assert.match(run.stderr, /✓ completed · stop/);
    const [final] = await finalMessage(g.h.env, `turn/acme/${g.h.conversationId}/cli-req-1`);
    assert.equal(final?.content, 'Working it out. The answer is 84.');
  });

  it('exits 1 with the gateway’s message when the token is wrong', async () => {
    const run = await chat(['hello', '--url', g.server.url, '--token', 'not-a-token']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /401/);
    assert.equal(g.h.llm.requests.length, 0);
  });
});
