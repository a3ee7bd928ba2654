import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { isTerminal } from '../../common';
import { assembledText, newRequest, outageStack, readTurnResuming, storedFinal, type OutageStack } from './stack';

describe('a turn through a component outage', function () {
  this.timeout(150_000);
  let s: OutageStack;

  beforeEach(async () => {
    s = await outageStack();
  });
  afterEach(async () => {
    await s.close();
  });

  it('completes the turn and its stream when Postgres is down for 10 s mid-turn', async () => {
    const answer = 'Half before the outage, half after it.';
    // The first attempt streams half, waits at the gate while Postgres goes away, then streams the rest;
    // any retry streams the whole answer again.
    s.llm.enqueue({
      steps: [{ text: 'Half before the outage, ' }, { waitFor: 'pg-down' }, { text: 'half after it.' }],
    });
    s.llm.respond(() => ({ steps: [{ text: answer }] }));
    const worker = s.spawnWorker();
    await worker.waitForOutput(/turnflow worker running/);
    const { turns, pool } = await s.connect();

    const turn = await turns.start(newRequest('survive a database outage'));
    const reading = readTurnResuming(turns, turn.turnId);
    await s.llm.gateReached('pg-down');
    await s.pg.stop();
    s.llm.release('pg-down');
    await sleep(10_000);
    assert.ok(worker.alive(), `the worker exited while Postgres was down:\n${worker.output()}`);
    await s.pg.start();

    const events = await reading;
    assert.deepEqual(
      events.filter(isTerminal).map((e) => e.type),
      ['done'],
      'the only end announced is the real one',
    );
    assert.equal(events.at(-1)?.type, 'done');
    assert.equal(await storedFinal(pool, turn.turnId), answer);
    assert.equal(assembledText(events), answer);
    assert.ok(worker.alive(), `the worker exited:\n${worker.output()}`);
  });

  it('completes the turn and its stream when the Temporal dev server is down for 15 s mid-turn', async () => {
    const answer = 'Streamed while Temporal was away, and finished.';
    s.llm.enqueue({
      steps: [{ text: 'Streamed while Temporal was away, ' }, { waitFor: 'temporal-down' }, { text: 'and finished.' }],
    });
    s.llm.respond(() => ({ steps: [{ text: answer }] }));
    const worker = s.spawnWorker();
    await worker.waitForOutput(/turnflow worker running/);
    const { turns, pool } = await s.connect();

    const turn = await turns.start(newRequest('survive a Temporal outage'));
    const reading = readTurnResuming(turns, turn.turnId);
    await s.llm.gateReached('temporal-down');
    await s.temporal.stop();
    s.llm.release('temporal-down');
    // Longer than every timeout in play (a heartbeat's 3 s, a workflow task's 5 s, a start's 10 s deadline).
    await sleep(15_000);
    assert.ok(worker.alive(), `the worker exited while Temporal was down:\n${worker.output()}`);
    await s.temporal.start();

    const events = await reading;
    assert.deepEqual(
      events.filter(isTerminal).map((e) => e.type),
      ['done'],
      'the only end announced is the real one',
    );
    assert.equal(await storedFinal(pool, turn.turnId), answer);
    assert.equal(assembledText(events), answer);
    assert.ok(worker.alive(), `the worker exited:\n${worker.output()}`);
  });
});
