import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { gatewayHarness, TOKENS, type GatewayHarness } from '../gateway/harness';
import { finalMessage } from '../turn/harness';
import { approvalTools } from '../approvals/approval-tools';
import { everythingStdio } from '../mcp/servers';

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

  it("marks an MCP server's tool calls and results as it marks a built-in tool's", async () => {
    g.h.llm.enqueue(
      {
        steps: [
          {
            toolCalls: [
              { id: 'c1', name: 'calculate', arguments: '{"expression":"2+40"}' },
              { id: 'c2', name: 'everything__get-sum', arguments: '{"a":2,"b":40}' },
              { id: 'c3', name: 'everything__get-sum', arguments: '{"a":"two","b":40}' },
            ],
          },
        ],
      },
      { steps: [{ text: 'Both say 42.' }] },
    );
    const run = await g.h.withWorker(
      () => chat(['add 2 and 40', '--conversation', g.h.conversationId, '--url', g.server.url, '--token', TOKENS.acme]),
      { mcpServers: { everything: everythingStdio() } },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'Both say 42.\n');
    assert.match(
      run.stderr,
      /⚙ Executing 3 tool\(s\)\.\.\. calculate\(\{"expression":"2\+40"\}\), everything__get-sum\(\{"a":2,"b":40\}\), everything__get-sum\(\{"a":"two","b":40\}\)\n/,
    );
    assert.match(run.stderr, /\n↳ calculate: .*42.*\n/);
    assert.match(run.stderr, /\n↳ everything__get-sum: The sum of 2 and 40 is 42\.\n/);
    assert.match(run.stderr, /\n↳ everything__get-sum failed: Tool "everything__get-sum" failed: .*Invalid/);
    assert.match(run.stderr, /✓ completed · stop/);
  });

  it('shows a call waiting for approval with its arguments; a stdin that is not a terminal denies it', async () => {
    const { runs, tools } = approvalTools();
    g.h.llm.enqueue(
      { steps: [{ toolCalls: [{ id: 'c1', name: 'send_email', arguments: '{"to":"a@b.c"}' }] }] },
      { steps: [{ text: 'Not sent.' }] },
    );
    const run = await g.h.withWorker(
      () => chat(['mail a@b.c', '--conversation', g.h.conversationId, '--url', g.server.url, '--token', TOKENS.acme]),
      { tools },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /\? send_email\(\{"to":"a@b\.c"\}\) needs approval/);
    assert.match(run.stderr, /approve\? \[y\/N\] n \(stdin is not a terminal: denied\)/);
    assert.match(run.stderr, /✗ denied \(user\)/);
    assert.equal(run.stdout, 'Not sent.\n');
    assert.equal(runs.length, 0);
  });

  it('asks approve? [y/N] on a terminal and runs the call once the person answers y', async () => {
    const { runs, tools } = approvalTools();
    g.h.llm.enqueue(
      { steps: [{ toolCalls: [{ id: 'c1', name: 'send_email', arguments: '{"to":"a@b.c"}' }] }] },
      { steps: [{ text: 'Sent it.' }] },
    );
    const args = ['mail a@b.c', '--conversation', g.h.conversationId, '--url', g.server.url, '--token', TOKENS.acme];
    const command = [process.execPath, '--import', 'tsx', path.join(ROOT, 'cli', 'turnflow.ts'), 'chat', ...args]
      .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
      .join(' ');
    const run = await g.h.withWorker(
      () =>
        new Promise<{ code: number | null; output: string }>((resolve, reject) => {
          // `script` gives the CLI a pseudo-terminal, as a person's shell would.
          const child = spawn('script', ['-qfec', command, '/dev/null'], {
            cwd: ROOT,
            stdio: ['pipe', 'pipe', 'pipe'],
          });
          let output = '';
          let answered = false;
          const take = (d: Buffer) => {
            output += d.toString();
            if (!answered && output.includes('approve? [y/N]')) {
              answered = true;
              child.stdin.write('y\r');
            }
          };
          child.stdout.on('data', take);
          child.stderr.on('data', take);
          child.once('error', reject);
          child.once('exit', (code) => resolve({ code, output }));
        }),
      { tools },
    );
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /send_email\(\{"to":"a@b\.c"\}\) needs approval/);
    assert.match(run.output, /✓ approved \(user\)/);
    assert.match(run.output, /Sent it\./);
    assert.deepEqual(
      runs.map((r) => r.args),
      [{ to: 'a@b.c' }],
    );
  });

  it('exits 1 with the gateway’s message when the token is wrong', async () => {
    const run = await chat(['hello', '--url', g.server.url, '--token', 'not-a-token']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /401/);
    assert.equal(g.h.llm.requests.length, 0);
  });
});
