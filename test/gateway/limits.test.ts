import assert from 'node:assert/strict';
import net from 'node:net';
import { WorkflowNotFoundError } from '@temporalio/common';
import { turnIdFor } from '../../common';
import { uniqueId } from '../support';
import { gatewayHarness, readEvents, TOKENS, type GatewayHarness } from './harness';

function turnIdOf(response: Response): string {
  const header = response.headers.get('turn-id');
  assert.ok(header, 'Turn-Id header');
  return decodeURIComponent(header);
}

async function waitFor(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function tooMany(response: Response, what: RegExp): Promise<void> {
  assert.equal(response.status, 429);
  assert.equal(response.headers.get('retry-after'), '5');
  const { error } = (await response.json()) as { error: { type: string; message: string } };
  assert.equal(error.type, 'too_many_requests');
  assert.match(error.message, what);
}

describe('gateway: per-tenant limits', function () {
  this.timeout(120_000);
  let g: GatewayHarness | undefined;

  afterEach(async () => {
    await g?.close();
    g = undefined;
  });

  it("answers 429 with Retry-After past a tenant's running turns, starting nothing; other tenants and attaching are unaffected", async () => {
    g = await gatewayHarness({ limits: { maxRunningTurns: 2, retryAfterSeconds: 5 } });
    const gw = g;
    const held = { steps: [{ text: 'held' }, { waitFor: 'hold' }, { text: ' done' }] };
    gw.h.llm.enqueue(held, held, { steps: [{ text: 'globex answer' }] }, { steps: [{ text: 'after' }] });
    await gw.h.withWorker(async () => {
      const firstId = uniqueId('req');
      const first = await gw.postTurn({ requestId: firstId });
      // Another conversation: turns of one conversation run one at a time, so only two conversations run two.
      const second = await gw.postTurn({}, { conversationId: uniqueId('conv') });
      assert.equal(first.status, 200);
      assert.equal(second.status, 200);
      await readEvents(first, { until: (e) => e.event === 'text' });
      await readEvents(second, { until: (e) => e.event === 'text' });

      const refusedId = uniqueId('req');
      await tooMany(await gw.postTurn({ requestId: refusedId }), /tenant acme has 2 running turns/);
      await assert.rejects(
        gw.h.client.workflow.getHandle(turnIdFor('acme', gw.h.conversationId, refusedId)).describe(),
        WorkflowNotFoundError,
      );
      // A repeated request attaches to its running turn: not a new turn, never refused.
      const again = await gw.postTurn({ requestId: firstId });
      assert.equal(again.status, 200);
      assert.equal(again.headers.get('turn-attached'), 'true');
      await again.body?.cancel();
      // Another tenant counts its own turns.
      const globex = await gw.postTurn({}, { conversationId: uniqueId('conv'), token: TOKENS.globex });
      assert.equal(globex.status, 200);
      assert.equal((await readEvents(globex)).at(-1)?.event, 'done');

      gw.h.llm.release('hold');
      await Promise.all([readEvents(first), readEvents(second)]);
      await gw.turns.result(turnIdOf(first));
      await gw.turns.result(turnIdOf(second));
      const after = await gw.postTurn({});
      assert.equal(after.status, 200, 'a slot frees when a turn ends');
      assert.equal((await readEvents(after)).at(-1)?.event, 'done');
    });
    assert.equal(gw.h.llm.requests.length, 4);
  });

  it("answers 429 past a tenant's open streams and frees the slot when a stream ends", async () => {
    g = await gatewayHarness({ limits: { maxOpenStreams: 2, retryAfterSeconds: 5 } });
    const gw = g;
    gw.h.llm.enqueue({ steps: [{ text: 'held' }, { waitFor: 'hold' }, { text: ' done' }] });
    await gw.h.withWorker(async () => {
      const abort = new AbortController();
      const post = await gw.postTurn({}, { signal: abort.signal });
      const turnId = turnIdOf(post);
      await gw.h.llm.gateReached('hold');
      const path = `/v1/turns/${encodeURIComponent(turnId)}/events`;
      const second = await gw.request(path);
      assert.equal(second.status, 200);
      await tooMany(await gw.request(path), /tenant acme has 2 open event streams/);
      // Nor may a start take a stream it cannot have: refused before any workflow starts.
      const refusedId = uniqueId('req');
      await tooMany(await gw.postTurn({ requestId: refusedId }), /open event streams/);
      await assert.rejects(
        gw.h.client.workflow.getHandle(turnIdFor('acme', gw.h.conversationId, refusedId)).describe(),
        WorkflowNotFoundError,
      );
      // HEAD holds no stream, and another tenant has its own slots (404 here: the turn is acme's).
      assert.equal((await gw.request(path, { method: 'HEAD' })).status, 200);
      assert.equal((await gw.request(path, { token: TOKENS.globex })).status, 404);

      abort.abort();
      await waitFor(() => gw.turns.liveSubscriptions === 1);
      const third = await gw.request(path);
      assert.equal(third.status, 200, 'the slot of the closed stream is free again');
      gw.h.llm.release('hold');
      assert.equal((await readEvents(third)).at(-1)?.event, 'done');
      assert.equal((await readEvents(second)).at(-1)?.event, 'done');
    });
  });

  it('disconnects a reader that stops reading after the write timeout, freeing its subscription', async () => {
    g = await gatewayHarness({ writeTimeoutMs: 1_000 });
    const gw = g;
    // More than the socket buffers on both sides of a loopback connection can hold (a few MB), in 60 events: the
    // turn fails after its first hop, so its log is never compacted into one event.
    const size = 12_000_000;
    gw.h.llm.enqueue(
      {
        steps: [
          { text: 'y'.repeat(size), chunkSize: 200_000 },
          { toolCalls: [{ name: 'calculate', arguments: '{"expression":"1+2"}' }] },
        ],
      },
      { steps: [], httpError: { status: 401 } },
    );
    const turnId = await gw.h.withWorker(async () => {
      const post = await gw.postTurn({});
      const turnId = turnIdOf(post);
      await readEvents(post);
      await gw.turns.result(turnId).catch(() => undefined);
      return turnId;
    });
    // A client that sends its request and never reads a byte of the answer.
    const [host, port] = [new URL(gw.server.url).hostname, gw.server.port];
    const socket = net.connect({ host, port });
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.pause();
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    socket.write(
      `GET /v1/turns/${encodeURIComponent(turnId)}/events HTTP/1.1\r\nHost: ${host}\r\n` +
        `Authorization: Bearer ${TOKENS.acme}\r\n\r\n`,
    );
    await waitFor(() => gw.turns.liveSubscriptions === 1);
    await waitFor(() => gw.logs.some((l) => l['msg'] === 'event stream ended' && l['reason'] === 'stalled'));
    await waitFor(() => gw.turns.liveSubscriptions === 0);
    socket.resume();
    await waitFor(() => closed);
    // A reader that reads gets the whole answer.
    const events = await readEvents(await gw.request(`/v1/turns/${encodeURIComponent(turnId)}/events`));
    assert.equal(events.at(-1)?.event, 'error');
    const text = events
      .filter((e) => e.event === 'text')
      .map((e) => String(e.data['text']))
      .join('');
    assert.equal(text.length, size);
  });
});
