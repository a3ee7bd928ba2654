import assert from 'node:assert/strict';
import type { TurnEvent } from '../../common';
import { uniqueId } from '../support';
import { storedEvents } from '../turn/harness';
import { gatewayHarness, readEvents, type GatewayHarness } from './harness';

const SEGMENT = 2 ** 32;

function turnIdOf(response: Response): string {
  const header = response.headers.get('turn-id');
  assert.ok(header, 'Turn-Id header');
  return decodeURIComponent(header);
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function errorOf(response: Response): Promise<{ type: string; message: string }> {
  return ((await response.json()) as { error: { type: string; message: string } }).error;
}

describe('gateway: every event stream ends', function () {
  this.timeout(120_000);
  let g: GatewayHarness;

  beforeEach(async () => {
    g = await gatewayHarness();
  });
  afterEach(async () => {
    await g.close();
  });

  it("answers 100 HEADs on a turn's events and its chat stream with GET's headers, opening no stream", async () => {
    g.h.llm.enqueue({ steps: [{ text: 'held' }, { waitFor: 'hold' }, { text: ' open' }] });
    await g.h.withWorker(async () => {
      const abort = new AbortController();
      const post = await g.postTurn({}, { signal: abort.signal });
      const turnId = turnIdOf(post);
      await g.h.llm.gateReached('hold');
      abort.abort();
      await waitFor(() => g.turns.liveSubscriptions === 0);
      // Every stream of the gateway (SSE and chat) reads through TurnClient.events: count the ones opened.
      let opened = 0;
      const events = g.turns.events.bind(g.turns);
      g.turns.events = (...args) => {
        opened++;
        return events(...args);
      };
      const listens = async () =>
        (
          await g.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'`,
          )
        ).rows[0]!.n;
      const listensBefore = await listens();
      const paths = [`/v1/turns/${encodeURIComponent(turnId)}/events`, `/v1/chat/${g.h.conversationId}/stream`];
      for (const path of paths) {
        const heads = await Promise.all(Array.from({ length: 100 }, () => g.request(path, { method: 'HEAD' })));
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(opened, 0, `${path}: a HEAD opened a stream`);
        assert.equal(g.turns.liveSubscriptions, 0, `${path}: a HEAD left a subscription`);
        assert.equal(await listens(), listensBefore, `${path}: a HEAD opened a LISTEN connection`);
        // GET's status and headers (the hop-by-hop ones aside), read without consuming its stream.
        const get = await g.request(path);
        const headersOf = (r: Response) =>
          [...r.headers].filter(([name]) => !['date', 'connection', 'transfer-encoding', 'keep-alive'].includes(name));
        for (const head of heads) {
          assert.equal(head.status, get.status, path);
          assert.deepEqual(headersOf(head), headersOf(get), path);
        }
        await get.body?.cancel();
        await waitFor(() => g.turns.liveSubscriptions === 0);
        opened = 0;
      }
      const foreign = await g.request(paths[0]!, { method: 'HEAD', token: 'token-of-globex' });
      assert.equal(foreign.status, 404);
      g.h.llm.release('hold');
      await g.turns.result(turnId);
      // An ended turn: HEAD still opens nothing, and answers GET's status (200 from the start: the stored stream).
      for (const path of paths) {
        const head = await g.request(path, { method: 'HEAD' });
        assert.equal(opened, 0, path);
        const get = await g.request(path);
        assert.equal(head.status, get.status, path);
        await get.body?.cancel();
        opened = 0;
      }
    });
  });

  it('rejects a Last-Event-ID beyond the stream of a running turn with 400 instead of a stream that never ends', async () => {
    g.h.llm.enqueue({ steps: [{ text: 'running' }, { waitFor: 'hold' }, { text: ' still' }] });
    await g.h.withWorker(async () => {
      const post = await g.postTurn({});
      const turnId = turnIdOf(post);
      const first = await readEvents(post, { until: (e) => e.event === 'text' });
      await g.h.llm.gateReached('hold');
      const path = `/v1/turns/${encodeURIComponent(turnId)}/events`;
      // A segment no writer of this turn has claimed: 2^20 segments on.
      const far = String(2 ** 52);
      const response = await g.request(path, {
        headers: { 'last-event-id': far },
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(response.status, 400);
      const error = await errorOf(response);
      assert.equal(error.type, 'bad_request');
      assert.match(error.message, new RegExp(`Last-Event-ID ${far} is not a cursor of turn`));
      // Resuming from the event actually seen still works and ends with the turn.
      const resumed = g.request(path, { headers: { 'last-event-id': first.at(-1)!.id! } });
      g.h.llm.release('hold');
      const rest = await readEvents(await resumed);
      assert.equal(rest.at(-1)?.event, 'done');
      await waitFor(() => g.turns.liveSubscriptions === 0);
    });
  });

  it("rejects a cursor beyond a finished turn's end (another turn's cursor) with 400, not an empty 200", async () => {
    g.h.llm.enqueue(
      { steps: [{ text: 'short' }] },
      { steps: [{ toolCalls: [{ name: 'calculate', arguments: '{"expression":"1+1"}' }] }] },
      { steps: [{ text: 'two' }] },
    );
    const [short, long] = await g.h.withWorker(async () => {
      const a = (await readEvents(await g.postTurn({}))).map((e) => e.turnEvent!);
      const b = (await readEvents(await g.postTurn({}))).map((e) => e.turnEvent!);
      return [a, b] as const;
    });
    const shortEnd = short.at(-1)!;
    const longEnd = long.at(-1)!;
    assert.equal(shortEnd.type, 'done');
    assert.equal(longEnd.type, 'done');
    // The tool turn had more writers (two hops), so its end lies in a later segment than the short turn's end.
    assert.ok(Math.floor(longEnd.cursor / SEGMENT) > Math.floor(shortEnd.cursor / SEGMENT));
    const path = `/v1/turns/${encodeURIComponent(shortEnd.turnId)}/events`;
    for (const cursor of [longEnd.cursor, shortEnd.cursor + 1]) {
      const response = await g.request(path, { headers: { 'last-event-id': String(cursor) } });
      assert.equal(response.status, 400, `cursor ${cursor}`);
      assert.match((await errorOf(response)).message, /is not a cursor of turn/);
    }
    const query = await g.request(`${path}?after=${longEnd.cursor}`);
    assert.equal(query.status, 400);
    assert.match((await errorOf(query)).message, /after .* is not a cursor of turn/);
    // The end itself is a cursor the reader saw: nothing more to send. 204, on which a browser's EventSource stops
    // reconnecting (an empty 200 made it reconnect every few seconds, for ever).
    for (const seen of [
      await g.request(path, { headers: { 'last-event-id': String(shortEnd.cursor) } }),
      await g.request(`${path}?after=${shortEnd.cursor}`),
    ]) {
      assert.equal(seen.status, 204);
      assert.equal(await seen.text(), '');
    }
  });

  it('resumes a failed turn of several thousand stored events to its end, through TurnClient and the gateway', async () => {
    const chars = 2_500;
    g.h.llm.enqueue(
      {
        steps: [
          { text: 'x'.repeat(chars), chunkSize: 1 },
          { toolCalls: [{ name: 'calculate', arguments: '{"expression":"6*7"}' }] },
        ],
      },
      { steps: [], httpError: { status: 401 } },
    );
    const requestId = uniqueId('req');
    const turnId = await g.h.withWorker(async () => {
      const post = await g.postTurn({ requestId });
      const turnId = turnIdOf(post);
      await post.body?.cancel();
      await g.turns.result(turnId).catch(() => undefined);
      return turnId;
    });
    const stored = await storedEvents(g.h.env, turnId);
    // One row per delta (a failed turn is never compacted), then tool_calls, tool_result and error.
    assert.equal(stored.length, chars + 3);
    assert.equal(stored.at(-1)?.type, 'error');

    const viaClient: TurnEvent[] = [];
    for await (const event of g.turns.events(turnId, { signal: AbortSignal.timeout(20_000) })) viaClient.push(event);
    assert.equal(viaClient.length, stored.length, 'TurnClient read every page');
    assert.equal(viaClient.at(-1)?.type, 'error');

    const response = await g.request(`/v1/turns/${encodeURIComponent(turnId)}/events`, {
      signal: AbortSignal.timeout(20_000),
    });
    const viaGateway = await readEvents(response);
    assert.equal(viaGateway.length, stored.length, 'the gateway streamed every page');
    assert.equal(viaGateway.at(-1)?.event, 'error');
    assert.deepEqual(
      viaGateway.map((e) => Number(e.id)),
      stored.map((e) => e.cursor),
    );
  });
});
