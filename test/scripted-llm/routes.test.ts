import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startScriptedLlm } from '../../scripted-llm';
import type { ScriptedLlm } from '../../scripted-llm';
import { openaiFor } from './helpers';

describe('scripted LLM: routes', () => {
  let llm: ScriptedLlm;

  before(async () => {
    llm = await startScriptedLlm({ admin: true });
  });
  afterEach(() => llm.reset());
  after(async () => {
    await llm.close();
  });

  it('rejects a non-streaming completion with a clear 400', async () => {
    const request = openaiFor(llm).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    await assert.rejects(request, (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.match(err.message, /only supports streaming/);
      return true;
    });
    assert.equal(llm.requests[0]?.outcome, 'rejected');
  });

  it('rejects an invalid chat body with a 400 naming the problem', async () => {
    const res = await fetch(`${llm.baseURL}/chat/completions`, { method: 'POST', body: '{"model":"m"}' });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { message: string; type: string } };
    assert.match(body.error.message, /messages/);
    assert.equal(body.error.type, 'invalid_request_error');
  });

  it('answers unknown routes with a 404 in the OpenAI error shape', async () => {
    const res = await fetch(`${llm.baseURL}/embeddings`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 404);
    const body = (await res.json()) as { error: Record<string, unknown> };
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.match(String(body.error['message']), /POST \/v1\/embeddings/);
  });

  it('lists models', async () => {
    const models = await openaiFor(llm).models.list();
    assert.ok(models.data.length > 0);
    assert.equal(models.data[0]?.object, 'model');
  });

  it('accepts scripts and gate releases over the admin routes', async () => {
    const admin = llm.baseURL.replace(/\/v1$/, '/_scripted');
    const post = (route: string, body: unknown): Promise<Response> =>
      fetch(`${admin}/${route}`, { method: 'POST', body: JSON.stringify(body) });
    assert.equal((await post('enqueue', { scripts: [[{ waitFor: 'g' }, { text: 'ok' }]] })).status, 200);
    assert.equal((await post('enqueue', { scripts: [{ steps: [{ txet: 'typo' }] }] })).status, 400);
    assert.equal((await post('release', { gate: 'g' })).status, 200);
    const stream = await openaiFor(llm).chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, 'ok');
    const recorded = (await (await fetch(`${admin}/requests`)).json()) as { requests: unknown[] };
    assert.equal(recorded.requests.length, 1);
  });
});
