import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { cancelTurn } from '../../workflows';
import { turnHarness, workflowBundle, type TurnHarness } from './harness';

const HISTORIES = path.resolve(__dirname, '..', 'fixtures', 'histories');

/**
 * Determinism guard: workflow code must replay the histories that earlier code recorded. Checked-in histories
 * (test/fixtures/histories, protobuf-encoded, refreshed with RECORD_HISTORIES=1) catch a change that breaks turns in flight;
 * fresh ones catch nondeterminism in the code as it is. Pre-release, a change of shape re-records them (no
 * compatibility code is kept for turns no deployment ever ran).
 */
/** The turn id (= workflow id) a recorded history was started with, read from its input payload. */
function startedTurnId(history: temporal.api.history.v1.IHistory): string {
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
  assert.ok(payload, 'the history starts with the workflow input');
  return (JSON.parse(Buffer.from(payload).toString('utf8')) as { turnId: string }).turnId;
}

describe('chatTurn replay', function () {
  this.timeout(180_000);
  let h: TurnHarness;

  before(async () => {
    h = await turnHarness();
  });
  after(async () => {
    await h.close();
  });

  async function record(name: string, run: () => Promise<string>): Promise<void> {
    const turnId = await run();
    const history = await h.client.workflow.getHandle(turnId).fetchHistory();
    const replay = await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, turnId);
    assert.equal(replay, undefined);
    if (process.env['RECORD_HISTORIES'] === '1') {
      await writeFile(path.join(HISTORIES, `${name}.bin`), temporal.api.history.v1.History.encode(history).finish());
    }
  }

  it('replays fresh histories of a tool turn, a hop-limited turn and a cancelled turn', async () => {
    await h.withWorker(async () => {
      await record('tool-turn', async () => {
        h.llm.enqueue(
          { steps: [{ toolCalls: [{ id: 'c1', name: 'calculate', arguments: '{"expression":"6*7"}' }] }] },
          { steps: [{ text: 'Forty-two.' }] },
        );
        const turn = await h.start({ message: 'six times seven' });
        await turn.handle.result();
        return turn.turnId;
      });
      await record('hop-limit-turn', async () => {
        const call = { steps: [{ toolCalls: [{ id: 'c', name: 'calculate', arguments: '{"expression":"1"}' }] }] };
        h.llm.enqueue(call, call);
        const turn = await h.start({ message: 'loop', maxHops: 1 });
        await turn.handle.result();
        return turn.turnId;
      });
      await record('cancelled-turn', async () => {
        h.llm.enqueue({ steps: [{ text: 'partial' }, { waitFor: 'stop' }] });
        const turn = await h.start({ message: 'stop me' });
        await h.llm.gateReached('stop');
        await turn.handle.signal(cancelTurn, {});
        await turn.handle.result();
        return turn.turnId;
      });
    });
  });

  it('replays every checked-in history', async () => {
    const files = (await readdir(HISTORIES)).filter((f) => f.endsWith('.bin'));
    assert.ok(files.length >= 3, 'the recorded histories are checked in');
    for (const file of files) {
      const history = temporal.api.history.v1.History.decode(await readFile(path.join(HISTORIES, file)));
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, startedTurnId(history));
    }
  });
});
