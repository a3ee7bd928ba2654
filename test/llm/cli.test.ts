import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { resolveFixturesDir } from '../../scripted-llm';

const run = promisify(execFile);
const repo = path.join(__dirname, '..', '..');
const expected = (name: string): unknown =>
  JSON.parse(readFileSync(path.join(repo, 'test', 'fixtures', 'expected', `${name}.json`), 'utf8'));

async function turnflow(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('npm', ['run', '--silent', 'turnflow', '--', ...args], { cwd: repo });
    return { code: 0, stdout, stderr };
  } catch (err: unknown) {
    const failed = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw err;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

describe('turnflow replay (the command)', function () {
  this.timeout(60_000);

  for (const name of ['openai-gpt4o-parallel-tool-calls', 'groq-gptoss-tool-use-failed-error-event']) {
    it(`prints exactly one JSON object for ${name} and exits 0`, async () => {
      const { code, stdout } = await turnflow('replay', path.join(resolveFixturesDir(), `${name}.sse`));
      assert.equal(code, 0);
      assert.equal(stdout.trimEnd().split('\n').length, 1);
      assert.deepEqual(JSON.parse(stdout), expected(name));
    });
  }

  it('exits 2 with a clear message for a missing file', async () => {
    const { code, stdout, stderr } = await turnflow('replay', '/nonexistent/stream.sse');
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.match(stderr, /cannot read \/nonexistent\/stream\.sse/);
  });

  it('exits 2 on bad usage', async () => {
    assert.equal((await turnflow('replay')).code, 2);
    assert.equal((await turnflow('replay', '--nope', 'x.sse')).code, 2);
    assert.equal((await turnflow('frobnicate')).code, 2);
    assert.equal((await turnflow()).code, 2);
  });
});
