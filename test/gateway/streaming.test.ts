import assert from 'node:assert/strict';
import { AnswerAssembler, type TurnEvent } from '../../common';
import { uniqueId } from '../support';
import { finalMessage } from '../turn/harness';
import {
  assertDeliveredStoredLog,
  assertLinked,
  gatewayHarness,
  readEvents,
  type GatewayHarness,
  type SseEvent,
} from './harness';

const words = (n: number, tag = 'w') => Array.from({ length: n }, (_, i) => `${tag}${i}`).join(' ') + '.';

function turnEventsOf(events: SseEvent[]): TurnEvent[] {
  return events.map((e) => {
    assert.ok(e.turnEvent, `not a turn event: ${JSON.stringify(e.data)}`);
    assert.equal(e.id, String(e.turnEvent.cursor), 'the SSE id is the cursor');
    assert.equal(e.event, e.turnEvent.type, 'the SSE event name is the event type');
    return e.turnEvent;
  });
}

function assemble(events: TurnEvent[]): string {
  const answer = new AnswerAssembler();
  events.forEach((e) => answer.apply(e));
  return answer.text;
}

function turnIdOf(response: Response): string {
  const header = response.headers.get('turn-id');
  assert.ok(header, 'Turn-Id header');
  return decodeURIComponent(header);
}

describe('gateway: turns over SSE', function () {
  this.timeout(120_000);
  let g: GatewayHarness;

  beforeEach(async () => {
    g = await gatewayHarness();
  });
  afterEach(async () => {
    await g.close();
  });

  it('streams a turn from POST to done, ending with exactly the stored final message', async () => {
    g.h.llm.enqueue({ steps: [{ text: words(40) }], delayMs: 2 });
    const requestId = uniqueId('req');
    const { response, events } = await g.h.withWorker(async () => {
      const response = await g.postTurn({ requestId, message: 'tell me' });
      return { response, events: await readEvents(response) };
    });

    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const turnId = turnIdOf(response);
    assert.equal(turnId, `turn/acme/${g.h.conversationId}/${requestId}`);
    assert.equal(response.headers.get('turn-attached'), 'false');
    assert.equal(response.headers.get('location'), `/v1/turns/${encodeURIComponent(turnId)}/events`);
    const turnEvents = turnEventsOf(events);
    assert.equal(turnEvents.at(-1)?.type, 'done');
    assert.ok(turnEvents.every((e) => e.turnId === turnId));
    const [final] = await finalMessage(g.h.env, turnId);
    assert.equal(final?.content, words(40));
    assert.equal(assemble(turnEvents), final.content);
    assertLinked(turnEvents);
    await assertDeliveredStoredLog(g.h.env, turnId, turnEvents);
  });

  it('resumes after Last-Event-ID mid-stream with no gap and no duplicate', async () => {
    g.h.llm.enqueue({ steps: [{ text: words(30, 'a') }, { waitFor: 'half' }, { text: ' ' + words(30, 'b') }] });
    const { turnId, first, rest } = await g.h.withWorker(async () => {
      const response = await g.postTurn({ message: 'long answer' });
      const turnId = turnIdOf(response);
      // Read a few events, then drop the connection as a flaky network would.
      const first = await readEvents(response, { until: (_e, all) => all.length === 5 });
      await g.h.llm.gateReached('half');
      const resumed = g.request(`/v1/turns/${encodeURIComponent(turnId)}/events`, {
        headers: { 'last-event-id': first.at(-1)!.id! },
      });
      const response2 = await resumed;
      assert.equal(response2.status, 200);
      g.h.llm.release('half');
      return { turnId, first, rest: await readEvents(response2) };
    });

    const seen = turnEventsOf([...first, ...rest]);
    // Across the reconnect: each event follows the one before it, and the log was delivered once.
    assertLinked(seen);
    await assertDeliveredStoredLog(g.h.env, turnId, seen);
    const [final] = await finalMessage(g.h.env, turnId);
    assert.equal(final?.content, `${words(30, 'a')} ${words(30, 'b')}`);
    assert.equal(assemble(seen), final.content);
  });

  it('resumes with ?after= from any cursor of a finished, compacted turn', async () => {
    g.h.llm.enqueue({ steps: [{ text: words(12) }] });
    const all = await g.h.withWorker(async () => {
      const events = turnEventsOf(await readEvents(await g.postTurn({})));
      await g.turns.result(events[0]!.turnId); // the turn's log is compacted once its workflow is done
      return events;
    });
    const turnId = all[0]!.turnId;
    const [final] = await finalMessage(g.h.env, turnId);
    // Resume from every cursor of the finished (and compacted) turn: never a gap, never a duplicate.
    for (const [i, { cursor }] of all.entries()) {
      const response = await g.request(`/v1/turns/${encodeURIComponent(turnId)}/events?after=${cursor}`);
      // After the terminal event there is nothing to resume: 204, on which an EventSource stops.
      assert.equal(response.status, i === all.length - 1 ? 204 : 200, `after ${cursor}`);
      const tail = response.status === 204 ? [] : turnEventsOf(await readEvents(response));
      assertLinked(tail, cursor);
      assert.equal(assemble([...all.slice(0, i + 1), ...tail]), final?.content, `after ${cursor}`);
    }
  });

  it('attaches a repeated POST with the same requestId to the same turn; the model is called once', async () => {
    g.h.llm.enqueue({ steps: [{ text: words(10, 'x') }, { waitFor: 'hold' }, { text: ' ' + words(10, 'y') }] });
    const requestId = uniqueId('req');
    const result = await g.h.withWorker(async () => {
      const first = await g.postTurn({ requestId, message: 'once' });
      await g.h.llm.gateReached('hold');
      const second = await g.postTurn({ requestId, message: 'once' });
      g.h.llm.release('hold');
      const [a, b] = await Promise.all([readEvents(first), readEvents(second)]);
      // After the turn finished, the same request replays the stored stream.
      const third = await g.postTurn({ requestId, message: 'once' });
      return { first, second, third, a, b, c: await readEvents(third) };
    });

    assert.equal(result.first.headers.get('turn-attached'), 'false');
    assert.equal(result.second.headers.get('turn-attached'), 'true');
    assert.equal(result.third.headers.get('turn-attached'), 'true');
    const turnId = turnIdOf(result.first);
    assert.equal(turnIdOf(result.second), turnId);
    assert.equal(g.h.llm.requests.length, 1);
    const [final] = await finalMessage(g.h.env, turnId);
    for (const events of [result.a, result.b, result.c]) assert.equal(assemble(turnEventsOf(events)), final?.content);
    const { rows } = await g.pool.query(`SELECT count(*)::int AS n FROM turns WHERE id = $1`, [turnId]);
    assert.equal(rows[0].n, 1);
  });

  it('stops only the subscription when the client disconnects; the turn still completes', async () => {
    g.h.llm.enqueue({ steps: [{ text: words(10, 'p') }, { waitFor: 'gone' }, { text: ' ' + words(10, 'q') }] });
    const turnId = await g.h.withWorker(async () => {
      const abort = new AbortController();
      const response = await g.postTurn({ message: 'bye' }, { signal: abort.signal });
      const turnId = turnIdOf(response);
      await readEvents(response, { until: (e) => e.event === 'text' }).catch(() => []);
      await g.h.llm.gateReached('gone');
      abort.abort();
      await waitFor(() => g.logs.some((l) => l['msg'] === 'event stream ended' && l['turnId'] === turnId));
      g.h.llm.release('gone');
      await g.turns.result(turnId);
      return turnId;
    });

    const ended = g.logs.find((l) => l['msg'] === 'event stream ended' && l['turnId'] === turnId);
    assert.equal(ended?.['reason'], 'client-closed');
    const [final] = await finalMessage(g.h.env, turnId);
    assert.equal(final?.content, `${words(10, 'p')} ${words(10, 'q')}`);
    assert.equal(final?.finish_reason, 'stop');
  });

  it('sends keep-alive comments while a turn is idle', async () => {
    await g.close();
    g = await gatewayHarness({ keepAliveMs: 100 });
    g.h.llm.enqueue({ steps: [{ text: 'wait' }, { pauseMs: 600 }, { text: ' for it' }] });
    const comments: string[] = [];
    const events = await g.h.withWorker(async () =>
      readEvents(await g.postTurn({}), { onComment: (text) => comments.push(text) }),
    );
    assert.ok(comments.filter((c) => c === 'keep-alive').length >= 3, `comments: ${comments.join(', ')}`);
    assert.equal(assemble(turnEventsOf(events)), 'wait for it');
  });

  it('cancels a running turn with 202 and streams its cancelled end', async () => {
    g.h.llm.enqueue({ steps: [{ text: words(5, 'c') }, { waitFor: 'never' }] });
    const { cancel, events, turnId, again } = await g.h.withWorker(async () => {
      const response = await g.postTurn({ message: 'stop me' });
      const turnId = turnIdOf(response);
      await g.h.llm.gateReached('never');
      const cancel = await g.request(`/v1/turns/${encodeURIComponent(turnId)}/cancel`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'user pressed stop' }),
      });
      const events = turnEventsOf(await readEvents(response));
      await g.turns.result(turnId);
      const again = await g.request(`/v1/turns/${encodeURIComponent(turnId)}/cancel`, { method: 'POST' });
      return { cancel, events, turnId, again };
    });

    assert.equal(cancel.status, 202);
    assert.deepEqual(await cancel.json(), { turnId, cancelRequested: true });
    const done = events.at(-1);
    assert.equal(done?.type, 'done');
    assert.equal(done.type === 'done' && done.status, 'cancelled');
    const [final] = await finalMessage(g.h.env, turnId);
    assert.equal(assemble(events), final?.content);
    assert.equal(again.status, 409);
    assert.equal(((await again.json()) as { error: { type: string } }).error.type, 'conflict');
  });

  it('lists the conversation as the user saw it, paging back with nextBefore', async () => {
    g.h.llm.enqueue({ steps: [{ text: 'first answer' }] }, { steps: [{ text: 'second answer' }] });
    await g.h.withWorker(async () => {
      await readEvents(await g.postTurn({ message: 'first question' }));
      await readEvents(await g.postTurn({ message: 'second question' }));
    });
    const path = `/v1/conversations/${g.h.conversationId}/messages`;
    const all = (await (await g.request(path)).json()) as { messages: { role: string; content: string }[] };
    assert.deepEqual(
      all.messages.map((m) => [m.role, m.content]),
      [
        ['user', 'first question'],
        ['assistant', 'first answer'],
        ['user', 'second question'],
        ['assistant', 'second answer'],
      ],
    );
    const page = (await (await g.request(`${path}?limit=2`)).json()) as {
      messages: { content: string }[];
      nextBefore: string;
    };
    assert.deepEqual(
      page.messages.map((m) => m.content),
      ['second question', 'second answer'],
    );
    const older = (await (await g.request(`${path}?limit=2&before=${page.nextBefore}`)).json()) as {
      messages: { content: string }[];
    };
    assert.deepEqual(
      older.messages.map((m) => m.content),
      ['first question', 'first answer'],
    );
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
