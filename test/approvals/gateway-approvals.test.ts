import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { builtinTools, defineTool } from '../../activities/tools';
import { storedEvents } from '../turn/harness';
import { gatewayHarness, TOKENS, type GatewayHarness } from '../gateway/harness';

/** A tool that needs a person's approval and records each address it "sent" to in `runs`. */
function sendEmailTool(runs: string[]) {
  return defineTool({
    name: 'send_email',
    description: 'Sends an email.',
    parameters: z.object({ to: z.string() }),
    approval: 'user',
    execute: ({ to }) => {
      runs.push(to);
      return Promise.resolve('sent');
    },
  });
}

describe('gateway: approvals', function () {
  this.timeout(240_000);
  let g: GatewayHarness;

  beforeEach(async () => {
    g = await gatewayHarness();
  });
  afterEach(async () => {
    await g.close();
  });

  it('decides over HTTP: 200, the same again 200, contradicting 409, another tenant or unknown 404; lists pending', async () => {
    const runs: string[] = [];
    const sendEmail = sendEmailTool(runs);
    g.h.llm.enqueue(
      { steps: [{ toolCalls: [{ id: 'call_mail', name: 'send_email', arguments: '{"to":"a@b.c"}' }] }] },
      { steps: [{ text: 'Sent.' }] },
    );
    await g.h.withWorker(
      async () => {
        const started = await g.postTurn({ message: 'mail a@b.c' });
        assert.equal(started.status, 200);
        const turnId = decodeURIComponent(started.headers.get('turn-id')!);
        void started.body?.cancel();
        let approvalId: string | undefined;
        for (let i = 0; i < 600 && approvalId === undefined; i++) {
          const req = (await storedEvents(g.h.env, turnId)).find((e) => e.type === 'approval_requested');
          approvalId = req ? String((req as { approvalId?: unknown }).approvalId) : undefined;
          if (approvalId === undefined) await sleep(100);
        }
        assert.ok(approvalId);

        const list = await g.request('/v1/approvals');
        const page = (await list.json()) as { approvals: { approvalId: string; arguments: string }[] };
        assert.deepEqual(
          page.approvals.map((a) => [a.approvalId, a.arguments]),
          [[approvalId, '{"to":"a@b.c"}']],
        );
        const foreign = (await (await g.request('/v1/approvals', { token: TOKENS.globex })).json()) as {
          approvals: unknown[];
        };
        assert.equal(foreign.approvals.length, 0);

        const path = `/v1/turns/${encodeURIComponent(turnId)}/approvals/${approvalId}`;
        const decide = (body: unknown, token: string = TOKENS.acme) =>
          g.request(path, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
            token,
          });
        assert.equal((await decide({ approved: true }, TOKENS.globex)).status, 404);
        const unknown = await g.request(`/v1/turns/${encodeURIComponent(turnId)}/approvals/apr_nope`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ approved: true }),
        });
        assert.equal(unknown.status, 404);
        assert.equal((await decide({ approved: true, reason: 'x'.repeat(1001) })).status, 400);
        const first = await decide({ approved: true, reason: 'fine' });
        assert.equal(first.status, 200);
        assert.deepEqual(await first.json(), {
          approvalId,
          turnId,
          approved: true,
          decidedBy: 'user',
          reason: 'fine',
        });
        assert.equal((await decide({ approved: true })).status, 200);
        const contra = await decide({ approved: false });
        assert.equal(contra.status, 409);
        assert.equal(((await contra.json()) as { decision: { approved: boolean } }).decision.approved, true);
        await g.turns.result(turnId);
      },
      { tools: [...builtinTools(), sendEmail] },
    );
    assert.deepEqual(runs, ['a@b.c']);
  });
});

describe('gateway: a decision no worker takes', function () {
  this.timeout(240_000);
  const DECISION_TIMEOUT_MS = 1_000;
  let g: GatewayHarness;

  beforeEach(async () => {
    g = await gatewayHarness({ startTimeoutMs: DECISION_TIMEOUT_MS, limits: { retryAfterSeconds: 3 } });
  });
  afterEach(async () => {
    await g.close();
  });

  it('answers 503 with Retry-After within the deadline, and the same decision later is the one decision', async () => {
    const runs: string[] = [];
    const sendEmail = sendEmailTool(runs);
    const tools = [...builtinTools(), sendEmail];
    g.h.llm.enqueue(
      { steps: [{ toolCalls: [{ id: 'call_mail', name: 'send_email', arguments: '{"to":"x@y.z"}' }] }] },
      { steps: [{ text: 'Sent.' }] },
    );
    // The turn asks for the approval, then its worker stops: the turn waits with no worker to run it.
    const { turnId, approvalId } = await g.h.withWorker(
      async () => {
        const started = await g.postTurn({ message: 'mail x@y.z' });
        assert.equal(started.status, 200);
        const id = decodeURIComponent(started.headers.get('turn-id')!);
        void started.body?.cancel();
        for (let i = 0; i < 600; i++) {
          const req = (await storedEvents(g.h.env, id)).find((e) => e.type === 'approval_requested');
          if (req) return { turnId: id, approvalId: String((req as { approvalId?: unknown }).approvalId) };
          await sleep(100);
        }
        return assert.fail('no approval was requested');
      },
      { tools },
    );

    const decide = () =>
      g.request(`/v1/turns/${encodeURIComponent(turnId)}/approvals/${approvalId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ approved: true }),
      });
    const began = Date.now();
    const refused = await decide();
    const waited = Date.now() - began;
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '3');
    const error = ((await refused.json()) as { error: { type: string; message: string } }).error;
    assert.equal(error.type, 'unavailable');
    assert.match(error.message, /did not take the decision .* within 1000 ms: no worker runs it now/);
    assert.ok(waited >= DECISION_TIMEOUT_MS && waited < DECISION_TIMEOUT_MS + 4_000, `waited ${waited} ms`);
    assert.deepEqual(runs, [], 'nothing ran while no worker did');

    await g.h.withWorker(
      async () => {
        // A worker that just started may take its first task later than this test's short deadline: retry as a
        // client told `Retry-After` would.
        let decided = await decide();
        for (let attempt = 1; decided.status === 503 && attempt < 10; attempt++) decided = await decide();
        assert.equal(decided.status, 200);
        const outcome = (await decided.json()) as { approved: boolean; decidedBy: string };
        assert.deepEqual([outcome.approved, outcome.decidedBy], [true, 'user']);
        assert.equal((await g.turns.result(turnId)).content, 'Sent.');
      },
      { tools },
    );
    assert.deepEqual(runs, ['x@y.z'], 'the approved call ran once');
  });
});
