import { existsSync } from 'node:fs';
import path from 'node:path';
import { ScriptError } from './errors';

/**
 * Where recorded SSE streams live: the option, else `TURNFLOW_FIXTURES_DIR`, else the copy kept in the
 * repository (`test/fixtures/llm-streams`, identical to the team's shared set — a test checks it).
 */
export function resolveFixturesDir(option?: string): string {
  const fromEnv = process.env['TURNFLOW_FIXTURES_DIR'];
  if (option !== undefined) return path.resolve(option);
  if (fromEnv !== undefined && fromEnv !== '') return path.resolve(fromEnv);
  return path.resolve(__dirname, '..', 'test', 'fixtures', 'llm-streams');
}

/**
 * Finds a fixture: an absolute path as is; otherwise a name in `fixturesDir`, then a path relative
 * to the working directory.
 * @throws ScriptError when no such file exists.
 */
export function resolveFixturePath(fixture: string, fixturesDir: string): string {
  const candidates = path.isAbsolute(fixture) ? [fixture] : [path.join(fixturesDir, fixture), path.resolve(fixture)];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (found === undefined) {
    throw new ScriptError(`fixture not found: ${fixture} (looked at ${candidates.join(', ')})`);
  }
  return found;
}

const EVENT_END = Buffer.from('\n\n');

/**
 * Cuts a raw SSE body after each blank line so it can be paced event by event. The pieces
 * concatenate to exactly the input bytes.
 */
export function splitSseEvents(body: Buffer): Buffer[] {
  const events: Buffer[] = [];
  let start = 0;
  for (;;) {
    const end = body.indexOf(EVENT_END, start);
    if (end === -1) break;
    events.push(body.subarray(start, end + EVENT_END.length));
    start = end + EVENT_END.length;
  }
  if (start < body.length) events.push(body.subarray(start));
  return events;
}
