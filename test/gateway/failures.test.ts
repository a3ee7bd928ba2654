import assert from 'node:assert/strict';
import { WorkflowNotFoundError } from '@temporalio/common';
import { InvalidTurnRequestError } from '../../client';
import { turnIdFor } from '../../common';
import { uniqueId } from '../support';
import { TEST_MODEL } from '../turn/harness';
import { gatewayHarness, readEvents, tableCounts, type GatewayHarness } from './harness';

interface ErrorBody {
  error: { type: string; message: string };
}

describe('gateway: refused starts and failed turns', function () {
  this.timeout(120_000);
  let g: GatewayHarness;

  beforeEach(async () => {
    g = await gatewayHarness();
  });
  afterEach(async () => {
    await g.pool.query(`DROP TRIGGER IF EXISTS poison ON messages`);
    await g.pool.query(`DROP FUNCTION IF EXISTS poison()`);
    await g.close();
  });

  /** Makes Postgres refuse (SQLSTATE 22023, with an internal-looking text) any message whose content holds `word`. */
  async function poison(word: string): Promise<void> {
    await g.pool.query(`CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.content LIKE '%${word}%' THEN
          RAISE EXCEPTION 'internal detail: relation messages, constraint chk_secret' USING ERRCODE = '22023';
        END IF;
        RETURN NEW;
      END $$`);
    await g.pool.query(`CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION poison()`);
  }

  it('refuses an unknown model or tool with 400 before any workflow starts, keeping the request id usable', async () => {
    const requestId = uniqueId('req');
    await g.h.withWorker(async () => {
      const before = await tableCounts(g.pool);
      const model = await g.postTurn({ requestId, model: 'gpt-nonexistent' });
      const tool = await g.postTurn({ requestId, tools: ['echo', 'rm_rf'] });
      for (const [response, message] of [
        [model, 'unknown model "gpt-nonexistent"'],
        [tool, 'unknown tool(s): "echo", "rm_rf"'],
      ] as const) {
        assert.equal(response.status, 400);
        const body = (await response.json()) as ErrorBody;
        assert.deepEqual(body.error, { type: 'bad_request', message });
      }
      assert.deepEqual(await tableCounts(g.pool), before, 'nothing stored');
      await assert.rejects(
        g.h.client.workflow.getHandle(turnIdFor('acme', g.h.conversationId, requestId)).describe(),
        WorkflowNotFoundError,
      );
      // The same request id, asked properly, starts the turn.
      g.h.llm.enqueue({ steps: [{ text: 'now it works' }] });
      const ok = await g.postTurn({ requestId, model: TEST_MODEL });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('turn-attached'), 'false');
      assert.equal((await readEvents(ok)).at(-1)?.event, 'done');
    });
    assert.equal(g.h.llm.requests.length, 1);
  });

  it("tells the caller a fixed message for an unknown model the workflow refused, never the worker's models", async () => {
    const events = await g.h.withWorker(async () => {
      // No catalog published (e.g. workers older than the catalog): the workflow decides.
      await g.pool.query(`DO $$ BEGIN IF to_regclass('worker_catalogs') IS NOT NULL THEN DELETE FROM worker_catalogs; END IF; END $$`);
      return readEvents(await g.postTurn({ model: 'gpt-nonexistent' }));
    });
    const last = events.at(-1);
    assert.equal(last?.event, 'error');
    assert.equal(last.data['errorType'], 'turn.unknown_model');
    assert.equal(last.data['message'], 'the model this turn asked for is not available');
    assert.ok(last.turnEvent, 'the error is stored on the turn, not made up by the gateway');
    assert.ok(!JSON.stringify(events).includes(TEST_MODEL), "the worker's models are not listed");
    assert.equal(g.h.llm.requests.length, 0);
  });

  it('refuses a NUL in the user message before any workflow starts (TurnClient and gateway)', async () => {
    const requestId = uniqueId('req');
    await assert.rejects(
      g.turns.start({ tenantId: 'acme', conversationId: g.h.conversationId, requestId, message: 'a\u0000b' }),
      (err: unknown) => err instanceof InvalidTurnRequestError && /NUL/.test(err.message),
    );
    const response = await g.postTurn({ requestId, message: 'a\u0000b' });
    assert.equal(response.status, 400);
    assert.match(((await response.json()) as ErrorBody).error.message, /NUL/);
    await assert.rejects(
      g.h.client.workflow.getHandle(turnIdFor('acme', g.h.conversationId, requestId)).describe(),
      WorkflowNotFoundError,
    );
  });

  it('ends the turn with an error event when preparing it hits a data error, without retrying it forever', async () => {
    await poison('poisoned-question');
    const events = await g.h.withWorker(async () => readEvents(await g.postTurn({ message: 'a poisoned-question' })));
    const last = events.at(-1);
    assert.equal(last?.event, 'error');
    assert.equal(last.data['errorType'], 'storage.invalid_data');
    assert.equal(last.data['message'], 'the turn could not be stored');
    assert.ok(!JSON.stringify(events).includes('internal detail'), 'the Postgres text is not shown');
    assert.equal(g.h.llm.requests.length, 0);
  });

  it("keeps Postgres error texts out of the caller's error event and fails the turn once", async () => {
    g.h.llm.enqueue({ steps: [{ text: 'this answer is poisoned-answer' }] });
    await poison('poisoned-answer');
    const requestId = uniqueId('req');
    const events = await g.h.withWorker(async () => readEvents(await g.postTurn({ requestId })));
    const last = events.at(-1);
    assert.equal(last?.event, 'error');
    assert.equal(last.data['errorType'], 'storage.invalid_data');
    assert.equal(last.data['message'], 'the turn could not be stored');
    assert.ok(!JSON.stringify(events).includes('internal detail'));
    // Operators find the SQLSTATE on the turn row; Postgres's own text (it can quote data) only in the worker's log.
    const { rows } = await g.pool.query<{ status: string; error: { message: string } }>(
      `SELECT status, error FROM turns WHERE id = $1`,
      [turnIdFor('acme', g.h.conversationId, requestId)],
    );
    assert.equal(rows[0]?.status, 'failed');
    assert.match(rows[0]?.error.message ?? '', /SQLSTATE 22023/);
    assert.doesNotMatch(rows[0]?.error.message ?? '', /internal detail/);
    assert.equal(g.h.llm.requests.length, 1, 'the hop was not asked again');
  });
});
