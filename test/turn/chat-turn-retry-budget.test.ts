import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { finalMessage, turnHarness, type TurnHarness } from './harness';

describe('chatTurn retry budget', function () {
  this.timeout(240_000);
  let h: TurnHarness;

  beforeEach(async () => {
    h = await turnHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('completes a turn whose LLM hop lost its worker more often than its provider-failure budget allows failures', async () => {
    // Attempts 1-3 stream a word and then hang without heartbeating: to Temporal, their worker died
    // (heartbeat timeout). Attempt 4 answers. A budget of two provider failures would have ended the hop at the third.
    const lost = 3;
    h.llm.respond((request) =>
      request.index < lost
        ? { steps: [{ text: 'Lost ' }, { waitFor: 'never' }] }
        : { steps: [{ text: 'Answered by a live worker.' }] },
    );
    const turn = await h.start({ message: 'outlive many workers' });
    const result = await h.withWorker(() => turn.handle.result(), {
      // The seam: an activity that never heartbeats again looks exactly like one whose worker was killed.
      heartbeatIntervalMs: 600_000,
      llmIdleTimeoutMs: 600_000,
      llmFailureBudget: 2,
    });

    assert.equal(result.status, 'completed');
    assert.equal(h.llm.requests.length, lost + 1);
    assert.equal((await finalMessage(h.env, turn.turnId))[0]?.content, 'Answered by a live worker.');
  });

  it('fails a hop with a non-retryable llm.retries_exhausted once provider failures reach the budget', async () => {
    h.llm.enqueue(
      { httpError: { status: 500 } },
      { httpError: { status: 503 } },
      { httpError: { status: 500 } },
      { steps: [{ text: 'never asked for' }] },
    );
    const turn = await h.start({ message: 'a failing provider' });
    const err: unknown = await h.withWorker(
      () =>
        turn.handle.result().then(
          () => assert.fail('expected the turn to fail'),
          (e: unknown) => e,
        ),
      { llmFailureBudget: 3 },
    );

    assert.ok(err instanceof WorkflowFailedError);
    assert.ok(err.cause instanceof ActivityFailure);
    const failure = err.cause.cause;
    assert.ok(failure instanceof ApplicationFailure);
    assert.equal(failure.type, 'llm.retries_exhausted');
    assert.equal(failure.nonRetryable, true);
    assert.ok(failure.cause instanceof ApplicationFailure);
    assert.equal(failure.cause.type, 'llm.server_error');
    assert.equal(h.llm.requests.length, 3, 'the model was asked exactly as often as the budget allows');
    const { rows } = await h.env.pool.query(`SELECT status, error FROM turns WHERE id = $1`, [turn.turnId]);
    assert.equal(rows[0]?.status, 'failed');
  });
});
