import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { replayFixture } from '../../cli';
import { resolveFixturesDir, startScriptedLlm } from '../../scripted-llm';
import type { ScriptedLlm } from '../../scripted-llm';

const fixturesDir = resolveFixturesDir();
const expectedDir = path.join(__dirname, '..', 'fixtures', 'expected');
const fixtures = readdirSync(fixturesDir)
  .filter((name) => name.endsWith('.sse'))
  .sort();

describe('replaying every recorded stream (scripted server + openai client + reader)', () => {
  let llm: ScriptedLlm;

  before(async () => {
    llm = await startScriptedLlm({ port: 0 });
  });
  after(async () => {
    await llm.close();
  });

  it('finds the recorded streams', () => {
    assert.ok(fixtures.length >= 27, `only ${fixtures.length} fixtures in ${fixturesDir}`);
  });

  // The repository keeps its own copy so a clone works alone; it must not drift from the team's set.
  const shared = path.resolve(__dirname, '..', '..', '..', 'shared', 'fixtures', 'llm-streams');
  (existsSync(shared) ? it : it.skip)('keeps a byte-identical copy of every shared recording', () => {
    const sharedNames = readdirSync(shared).sort();
    assert.deepEqual(readdirSync(fixturesDir).sort(), sharedNames);
    for (const name of sharedNames) {
      assert.ok(readFileSync(path.join(shared, name)).equals(readFileSync(path.join(fixturesDir, name))), name);
    }
  });

  for (const name of fixtures) {
    const expectedFile = path.join(expectedDir, `${path.basename(name, '.sse')}.json`);
    it(`reads ${name} as test/fixtures/expected says`, async () => {
      assert.ok(
        existsSync(expectedFile),
        `no expected reading for ${name}: write ${expectedFile} by reading the stream`,
      );
      const expected: unknown = JSON.parse(readFileSync(expectedFile, 'utf8'));
      const actual = await replayFixture(path.join(fixturesDir, name), { llm });
      assert.deepEqual(Object.keys(actual), ['content', 'tool_calls', 'finish_reason', 'usage', 'error']);
      assert.deepEqual(actual, expected);
    });
  }
});
