import assert from 'node:assert/strict';
import { NativeConnection, Worker } from '@temporalio/worker';
import { ConversationStuckError, TurnStartTimeoutError } from '../../client';
import { turnIdFor } from '../../common';
import { uniqueId } from '../support';
import { gatewayHarness, readEvents, type GatewayHarness } from './harness';

const START_TIMEOUT_MS = 1_000;

// Both start paths keep the deadline: a direct start (an idle conversation's turn started with a plain workflow start)
// and a start through the conversation's workflow (update-with-start, `directStart: false`).
for (const directStart of [true, false]) {
  describe(`gateway: a start no worker accepts (${directStart ? 'direct start' : 'through the conversation'})`, function () {
    this.timeout(120_000);
    let g: GatewayHarness;

    beforeEach(async () => {
      g = await gatewayHarness({ startTimeoutMs: START_TIMEOUT_MS, limits: { retryAfterSeconds: 3 }, directStart });
    });
    afterEach(async () => {
      await g.close();
    });

    /** Workflows of this test's task queue whose id is `workflowId` (every run, open or closed). */
    async function runsOf(workflowId: string): Promise<number> {
      let n = 0;
      for await (const _ of g.h.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) n++;
      return n;
    }

    async function errorOf(response: Response): Promise<{ type: string; message: string }> {
      return ((await response.json()) as { error: { type: string; message: string } }).error;
    }

    it('answers 503 with Retry-After, and the retried request attaches to the same single turn', async () => {
      const requestId = uniqueId('req');
      const turnId = turnIdFor('acme', g.h.conversationId, requestId);
      g.h.llm.enqueue({ steps: [{ text: 'the one answer' }] });

      const began = Date.now();
      const refused = await g.postTurn({ requestId, message: 'hello' });
      const waited = Date.now() - began;
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get('retry-after'), '3');
      const error = await errorOf(refused);
      assert.equal(error.type, 'unavailable');
      assert.match(error.message, /was not accepted within 1000 ms: no worker took .*retry the same request/);
      assert.ok(waited >= START_TIMEOUT_MS && waited < START_TIMEOUT_MS + 4_000, `waited ${waited} ms`);
      assert.equal(g.h.llm.requests.length, 0, 'no model request without a worker');
      const { rows: stored } = await g.pool.query<{ direct: boolean; status: string }>(
        `SELECT direct_input IS NOT NULL AS direct, status FROM turns WHERE id = $1`,
        [turnId],
      );
      assert.deepEqual(stored, [{ direct: directStart, status: 'queued' }], 'the claim stays, on the path it took');

      if (!directStart) {
        // The conversation's workflow exists now (Temporal accepted its start), but no worker runs its tasks: its
        // listing answers within the same deadline instead of waiting for one.
        const listedAt = Date.now();
        const listing = await g.request(`/v1/conversations/${encodeURIComponent(g.h.conversationId)}/turns`);
        const listingWaited = Date.now() - listedAt;
        assert.equal(listing.status, 503);
        assert.equal(listing.headers.get('retry-after'), '3');
        const listingError = await errorOf(listing);
        assert.equal(listingError.type, 'unavailable');
        assert.match(listingError.message, /did not answer within 1000 ms: no worker took its workflow's task/);
        assert.ok(listingWaited < START_TIMEOUT_MS + 4_000, `the listing waited ${listingWaited} ms`);
      }

      await g.h.withWorker(async () => {
        // A worker that just started may take longer than this test's short deadline for its first task: retry as
        // a client told `Retry-After` would; however many retries, one turn.
        let retried = await g.postTurn({ requestId, message: 'hello' });
        for (let attempt = 1; retried.status === 503 && attempt < 10; attempt++) {
          await retried.body?.cancel();
          retried = await g.postTurn({ requestId, message: 'hello' });
        }
        assert.equal(retried.status, 200);
        assert.equal(decodeURIComponent(retried.headers.get('turn-id') ?? ''), turnId);
        const events = await readEvents(retried, { until: (e) => e.event === 'done' || e.event === 'error' });
        assert.equal(events.at(-1)?.event, 'done');
        const text = events.flatMap((e) => (e.turnEvent?.type === 'text' ? [e.turnEvent.text] : [])).join('');
        assert.equal(text, 'the one answer');
        assert.equal((await g.turns.result(turnId)).content, 'the one answer');
      });
      assert.equal(g.h.llm.requests.length, 1, 'one LLM call: one turn');
      const { rows } = await g.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM turns WHERE tenant_id = 'acme' AND conversation_id = $1`,
        [g.h.conversationId],
      );
      assert.equal(rows[0]?.n, 1, 'one stored turn');
      assert.equal(await runsOf(turnId), 1, 'exactly one workflow for the turn');
    });

    it('throws TurnStartTimeoutError from TurnClient.start, and a retry gets the one turn', async () => {
      const requestId = uniqueId('req');
      const request = { tenantId: 'acme', conversationId: g.h.conversationId, requestId, message: 'hi' };
      g.h.llm.enqueue({ steps: [{ text: 'answered once' }] });
      const err = await g.turns.start(request).then(
        () => assert.fail('started without a worker'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof TurnStartTimeoutError, String(err));
      assert.equal(err.turnId, turnIdFor('acme', g.h.conversationId, requestId));
      assert.equal(err.timeoutMs, START_TIMEOUT_MS);

      await g.h.withWorker(async () => {
        let started: Awaited<ReturnType<typeof g.turns.start>> | undefined;
        for (let attempt = 1; started === undefined; attempt++) {
          started = await g.turns.start(request).catch((e: unknown) => {
            if (e instanceof TurnStartTimeoutError && attempt < 10) return undefined;
            throw e;
          });
        }
        assert.equal(started.turnId, err.turnId);
        assert.equal((await g.turns.result(started.turnId)).content, 'answered once');
      });
      assert.equal(g.h.llm.requests.length, 1);
      assert.equal(await runsOf(err.turnId), 1);
    });

    it("answers 503 conversation.stuck, naming the workflow, when the workflow's first task keeps failing", async () => {
      const connection = await NativeConnection.connect({ address: g.h.env.temporal.address });
      try {
        // The workflow a start reaches first: the turn's own (direct) or the conversation's.
        const broken = await Worker.create({
          connection,
          taskQueue: g.h.taskQueue,
          workflowsPath: require.resolve(`../fixtures/workflows/${directStart ? 'stuck-turn' : 'stuck-conversation'}`),
          bundlerOptions: { ignoreModules: [] },
        });
        await broken.runUntil(async () => {
          const requestId = uniqueId('req');
          const response = await g.postTurn({ requestId, message: 'hello' });
          assert.equal(response.status, 503);
          assert.equal(response.headers.get('retry-after'), '3');
          const error = await errorOf(response);
          assert.equal(error.type, 'conversation.stuck');
          const workflowId = directStart
            ? turnIdFor('acme', g.h.conversationId, requestId)
            : `conversation/acme/${g.h.conversationId}`;
          assert.ok(error.message.includes(workflowId), error.message);
          assert.match(error.message, /workflow task that failed \d+ time\(s\) in a row/);

          const err = await g.turns
            .start({ tenantId: 'acme', conversationId: g.h.conversationId, requestId, message: 'hello' })
            .then(
              () => assert.fail('started on a stuck conversation'),
              (e: unknown) => e,
            );
          assert.ok(err instanceof ConversationStuckError, String(err));
          assert.equal(err.conversationId, g.h.conversationId);
          assert.equal(err.workflowId, workflowId);
          assert.ok(err.attempts >= 2, `attempts ${err.attempts}`);
          if (directStart) return;

          // The other calls to the conversation's workflow say the same instead of waiting for it: its listing, and
          // the cancel of the turn it holds.
          const turnId = turnIdFor('acme', g.h.conversationId, requestId);
          for (const [what, answer] of [
            ['the listing', await g.request(`/v1/conversations/${encodeURIComponent(g.h.conversationId)}/turns`)],
            ['the cancel', await g.request(`/v1/turns/${encodeURIComponent(turnId)}/cancel`, { method: 'POST' })],
          ] as const) {
            assert.equal(answer.status, 503, `${what}: status`);
            assert.equal(answer.headers.get('retry-after'), '3', `${what}: Retry-After`);
            const refusal = await errorOf(answer);
            assert.equal(refusal.type, 'conversation.stuck', `${what}: ${refusal.message}`);
            assert.ok(refusal.message.includes(workflowId), `${what} names the workflow: ${refusal.message}`);
          }
          const listed = await g.turns.turns('acme', g.h.conversationId).then(
            () => assert.fail('listed a stuck conversation'),
            (e: unknown) => e,
          );
          assert.ok(listed instanceof ConversationStuckError, String(listed));
        });
      } finally {
        await connection.close();
      }
      assert.equal(g.h.llm.requests.length, 0);
    });
  });
}
