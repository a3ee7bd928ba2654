import assert from 'node:assert/strict';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { headWithoutBody } from '../../gateway/methods';

describe('gateway: HEAD never leaves a body running', () => {
  it('cancels the body of a GET handler answering HEAD, so a stream that forgot the method ends at once', async () => {
    let opened = 0;
    let ended = 0;
    const app = new Hono();
    app.use('*', headWithoutBody());
    app.get('/stream', (c) =>
      streamSSE(c, async (stream) => {
        opened++;
        await new Promise<void>((resolve) => stream.onAbort(resolve));
        ended++;
      }),
    );
    const heads = await Promise.all(
      Array.from({ length: 100 }, async () => app.request('/stream', { method: 'HEAD' })),
    );
    for (const head of heads) {
      assert.equal(head.status, 200);
      assert.equal(head.body, null);
      assert.match(head.headers.get('content-type') ?? '', /^text\/event-stream/);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(ended, opened, `${opened - ended} of ${opened} HEAD streams still open`);
    const get = await app.request('/stream');
    assert.equal(get.headers.get('content-type'), heads[0]!.headers.get('content-type'));
    await get.body?.cancel();
  });
});
