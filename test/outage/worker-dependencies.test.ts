import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  assembledText,
  eventually,
  newRequest,
  outageStack,
  readTurnResuming,
  storedFinal,
  type OutageStack,
} from './stack';

describe('worker process and its dependencies', function () {
  this.timeout(150_000);
  let s: OutageStack;

  beforeEach(async () => {
    s = await outageStack();
  });
  afterEach(async () => {
    await s.close();
  });

  it('keeps the worker process alive when Postgres restarts under its idle connections', async () => {
    const worker = s.spawnWorker();
    await worker.waitForOutput(/turnflow worker running/);
    const { turns, pool } = await s.connect();
    s.llm.respond(() => ({ steps: [{ text: 'An answer.' }] }));

    // A first turn leaves the worker's pool holding idle connections.
    const first = await turns.start(newRequest('first'));
    await readTurnResuming(turns, first.turnId);
    await s.pg.stop();
    await s.pg.start();
    await sleep(2_000);
    assert.ok(worker.alive(), `the worker died when Postgres restarted:\n${worker.output()}`);

    const second = await eventually(() => turns.start(newRequest('second')));
    const events = await readTurnResuming(turns, second.turnId);
    assert.equal(events.at(-1)?.type, 'done');
    assert.equal(assembledText(events), 'An answer.');
    assert.equal(await storedFinal(pool, second.turnId), 'An answer.');
    assert.ok(worker.alive());
  });

  it('starts a worker while Postgres and Temporal are down, waits for both, then runs a turn', async () => {
    await Promise.all([s.pg.stop(), s.temporal.stop()]);
    const worker = s.spawnWorker();
    await worker.waitForOutput(/waiting for Postgres/);
    await sleep(3_000);
    assert.ok(worker.alive(), `the worker exited while Postgres was down:\n${worker.output()}`);

    await s.pg.start();
    await worker.waitForOutput(/waiting for Temporal/);
    await sleep(3_000);
    assert.ok(worker.alive(), `the worker exited while Temporal was down:\n${worker.output()}`);

    await s.temporal.start();
    await worker.waitForOutput(/turnflow worker running/);
    const { turns, pool } = await s.connect();
    s.llm.respond(() => ({ steps: [{ text: 'Worth the wait.' }] }));
    const turn = await turns.start(newRequest('after the wait'));
    const events = await readTurnResuming(turns, turn.turnId);
    assert.equal(events.at(-1)?.type, 'done');
    assert.equal(await storedFinal(pool, turn.turnId), 'Worth the wait.');
    assert.ok(worker.alive());
  });
});
