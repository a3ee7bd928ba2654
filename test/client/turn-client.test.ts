import assert from 'node:assert/strict';
import { AnswerAssembler, type TurnEvent } from '../../common';
import { CallDeadlineError, CursorOutOfRangeError, TurnClient } from '../../client';
import { finalMessage, storedEvents, turnHarness, type TurnHarness } from '../turn/harness';

const words = (n: number, tag = 'w') => Array.from({ length: n }, (_, i) => `${tag}${i}`).join(' ') + '.';

function assemble(events: TurnEvent[]): string {
  const answer = new AnswerAssembler();
  events.forEach((e) => answer.apply(e));
  return answer.text;
}

function assertStrictlyIncreasing(events: TurnEvent[]): void {
  for (let i = 1; i < events.length; i++) {
    assert.ok(events[i]!.cursor > events[i - 1]!.cursor, `cursor ${events[i]!.cursor} after ${events[i - 1]!.cursor}`);
  }
}

/**
 * Reading what was seen up to any cursor, then resuming after it (from the compacted log, the turn is over),
 * must give exactly the stored answer: no gap, no duplicate, wherever the reader stopped.
 */
async function assertResumableFromEveryCursor(
  turns: TurnClient,
  turnId: string,
  seen: TurnEvent[],
  final: string,
): Promise<void> {
  for (let i = 0; i < seen.length; i++) {
    const resumed: TurnEvent[] = [];
    for await (const e of turns.events(turnId, { after: seen[i]!.cursor })) resumed.push(e);
    const combined = [...seen.slice(0, i + 1), ...resumed];
    assert.equal(assemble(combined), final, `resuming after cursor ${seen[i]!.cursor} (event ${i})`);
  }
}

describe('TurnClient', function () {
  this.timeout(120_000);
  let h: TurnHarness;
  let turns: TurnClient;

  beforeEach(async () => {
    h = await turnHarness();
    turns = new TurnClient({
      temporal: h.client,
      pool: h.env.pool,
      databaseUrl: h.env.databaseUrl,
      taskQueue: h.taskQueue,
    });
  });
  afterEach(async () => {
    await turns.close();
    await h.close();
  });

  it("answers a turn's progress within the deadline, even with no worker running it", async () => {
    const impatient = new TurnClient({
      temporal: h.client,
      pool: h.env.pool,
      databaseUrl: h.env.databaseUrl,
      taskQueue: h.taskQueue,
      startTimeoutMs: 1_000,
    });
    try {
      h.llm.enqueue({ steps: [{ text: 'ready.' }] });
      const { turnId } = await h.start({ message: 'hello' });
      // No worker polls: a query waits for one, for ever without a deadline.
      const began = Date.now();
      const err = await impatient.progress(turnId).then(
        () => assert.fail('a turn no worker runs answered'),
        (e: unknown) => e,
      );
      const waited = Date.now() - began;
      assert.ok(err instanceof CallDeadlineError, String(err));
      assert.ok(waited >= 1_000 && waited < 5_000, `waited ${waited} ms`);
      await h.withWorker(async () => {
        await impatient.result(turnId);
        // An ended workflow answers queries from its history (a worker replays it).
        assert.equal((await impatient.progress(turnId)).phase, 'done');
      });
    } finally {
      await impatient.close();
    }
  });

  const request = (message: string, extra: object = {}) => ({
    conversationId: h.conversationId,
    requestId: `req-${Math.random().toString(36).slice(2)}`,
    message,
    ...extra,
  });

  it('follows a turn live from the start and ends with exactly the stored answer', async () => {
    h.llm.enqueue({ steps: [{ text: words(60) }], delayMs: 2 });
    let turnId = '';
    // An ordered start answers once the conversation's workflow accepted the turn: that takes a worker.
    const [events, outcome] = await h.withWorker(async () => {
      const started = await turns.start(request('stream please'));
      assert.equal(started.attached, false);
      turnId = started.turnId;
      const seen: TurnEvent[] = [];
      for await (const e of turns.events(turnId)) seen.push(e);
      return [seen, await turns.result(turnId)] as const;
    });
    const [final] = await finalMessage(h.env, turnId);
    assert.equal(assemble(events), final?.content);
    assert.equal(final?.content, words(60));
    assert.equal(events.at(-1)?.type, 'done');
    assertStrictlyIncreasing(events);
    await assertResumableFromEveryCursor(turns, turnId, events, final.content);
    const textRows = (await storedEvents(h.env, turnId)).filter((e) => e.type === 'text');
    assert.equal(textRows.length, 1, 'the deltas were compacted into one row once the answer was stored');
    assert.equal(outcome.content, final?.content);
    assert.equal(outcome.messageId, final?.id);
  });

  it('resumes from a cursor mid-stream with no gap and no duplicate', async () => {
    h.llm.enqueue({
      steps: [{ text: words(30, 'a') }, { waitFor: 'half' }, { text: ' ' + words(30, 'b') }],
      delayMs: 2,
    });
    let turnId = '';
    // An ordered start answers once the conversation's workflow accepted the turn: that takes a worker.
    const [before, after] = await h.withWorker(async () => {
      ({ turnId } = await turns.start(request('reconnect')));
      const first: TurnEvent[] = [];
      const stop = new AbortController();
      for await (const e of turns.events(turnId, { signal: stop.signal })) {
        first.push(e);
        if (first.length === 12) break; // the client goes away mid-stream
      }
      h.llm.release('half');
      const second: TurnEvent[] = [];
      for await (const e of turns.events(turnId, { after: first.at(-1)!.cursor })) second.push(e);
      await turns.result(turnId);
      return [first, second];
    });
    const all = [...before, ...after];
    assertStrictlyIncreasing(all);
    assert.equal(new Set(all.map((e) => e.cursor)).size, all.length, 'no event twice');
    const final = (await finalMessage(h.env, turnId))[0]?.content;
    assert.equal(assemble(all), final);
    assert.equal(final, `${words(30, 'a')} ${words(30, 'b')}`);
  });

  it('ends with the stored answer when the LLM attempt is retried mid-stream', async () => {
    h.llm.enqueue(
      { steps: [{ text: words(20, 'lost') }], delayMs: 2, dropAfterChunks: 8 },
      { steps: [{ text: words(20, 'kept') }], delayMs: 2 },
    );
    let turnId = '';
    // An ordered start answers once the conversation's workflow accepted the turn: that takes a worker.
    const events = await h.withWorker(async () => {
      ({ turnId } = await turns.start(request('retry me')));
      const seen: TurnEvent[] = [];
      for await (const e of turns.events(turnId)) seen.push(e);
      await turns.result(turnId);
      return seen;
    });
    assert.ok(
      events.some((e) => e.type === 'text' && e.attempt === 1),
      'the first attempt streamed live',
    );
    assert.ok(events.some((e) => e.type === 'reset'));
    assert.equal(assemble(events), words(20, 'kept'));
    assert.equal((await finalMessage(h.env, turnId))[0]?.content, words(20, 'kept'));
    await assertResumableFromEveryCursor(turns, turnId, events, words(20, 'kept'));
  });

  it('loses nothing when its LISTEN connection is killed mid-stream', async () => {
    h.llm.enqueue({
      steps: [{ text: words(20, 'x') }, { waitFor: 'kill' }, { text: ' ' + words(20, 'y') }],
      delayMs: 2,
    });
    let turnId = '';
    // An ordered start answers once the conversation's workflow accepted the turn: that takes a worker.
    const events = await h.withWorker(async () => {
      ({ turnId } = await turns.start(request('kill the listener')));
      const seen: TurnEvent[] = [];
      let killed = false;
      for await (const e of turns.events(turnId)) {
        seen.push(e);
        if (!killed && seen.length === 5) {
          killed = true;
          await h.llm.gateReached('kill');
          const { rowCount } = await h.env.pool.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE query ILIKE 'LISTEN%' AND datname = current_database()`,
          );
          assert.ok(rowCount && rowCount >= 1, 'terminated the listening backend');
          h.llm.release('kill');
        }
      }
      await turns.result(turnId);
      return seen;
    });
    assertStrictlyIncreasing(events);
    assert.equal(assemble(events), `${words(20, 'x')} ${words(20, 'y')}`);
  });

  it('with persistDeltas off, a caller joining mid-hop catches up when the hop ends', async () => {
    h.llm.enqueue({ steps: [{ text: words(10, 'p') }, { waitFor: 'join' }, { text: ' ' + words(10, 'q') }] });
    let turnId = '';
    // An ordered start answers once the conversation's workflow accepted the turn: that takes a worker.
    const [live, late] = await h.withWorker(async () => {
      ({ turnId } = await turns.start(request('live only', { persistence: { persistDeltas: false } })));
      const liveEvents: TurnEvent[] = [];
      const liveDone = (async () => {
        for await (const e of turns.events(turnId)) liveEvents.push(e);
      })();
      await h.llm.gateReached('join');
      const stored = await storedEvents(h.env, turnId);
      assert.equal(stored.filter((e) => e.type === 'text').length, 0, 'no text row is written mid-hop');
      const lateEvents: TurnEvent[] = [];
      const lateDone = (async () => {
        for await (const e of turns.events(turnId)) lateEvents.push(e);
      })();
      h.llm.release('join');
      await Promise.all([liveDone, lateDone]);
      await turns.result(turnId);
      return [liveEvents, lateEvents];
    });
    const expected = `${words(10, 'p')} ${words(10, 'q')}`;
    assert.equal(assemble(live), expected);
    assert.equal(assemble(late), expected);
  });
  it('refuses a cursor the turn never issued instead of waiting forever or ending without its end', async () => {
    h.llm.enqueue({ steps: [{ text: 'running' }, { waitFor: 'hold' }, { text: ' on' }] });
    let turnId = '';
    // An ordered start answers once the conversation's workflow accepted the turn: that takes a worker.
    await h.withWorker(async () => {
      ({ turnId } = await turns.start(request('hold on')));
      await h.llm.gateReached('hold');
      // 2^20 segments beyond any writer of the turn: no event of this turn can follow it.
      const far = 2 ** 52;
      const iterator = turns.events(turnId, { after: far, signal: AbortSignal.timeout(10_000) });
      await assert.rejects(iterator.next(), (err: unknown) => {
        assert.ok(err instanceof CursorOutOfRangeError);
        assert.equal(err.reason, 'unknown_segment');
        assert.equal(err.after, far);
        return true;
      });
      assert.equal(turns.liveSubscriptions, 0, 'the refused reader holds no subscription');
      h.llm.release('hold');
      await turns.result(turnId);
    });
    const done = (await storedEvents(h.env, turnId)).at(-1)!;
    assert.equal(done.type, 'done');
    await assert.rejects(turns.events(turnId, { after: done.cursor + 1 }).next(), CursorOutOfRangeError);
    assert.deepEqual(await turns.events(turnId, { after: done.cursor }).next(), { done: true, value: undefined });
  });
});
