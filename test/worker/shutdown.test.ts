import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { NativeConnection } from '@temporalio/worker';
import { createTurnWorker } from '../../worker/create-worker';
import { turnHarness, workflowBundle, type TurnHarness } from '../turn/harness';

describe('worker shutdown', function () {
  this.timeout(120_000);
  let h: TurnHarness;

  beforeEach(async () => {
    h = await turnHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('gives up on a graceful shutdown an activity never lets finish, after shutdownForceTimeMs', async () => {
    // An activity that ignores its cancellation (a stuck library call, say): a graceful shutdown waits for it.
    let release!: () => void;
    const stuck = new Promise<void>((resolve) => (release = resolve));
    let entered = false;
    const connection = await NativeConnection.connect({ address: h.env.temporal.address });
    try {
      const worker = await createTurnWorker({
        connection,
        taskQueue: h.taskQueue,
        deps: h.deps(),
        workflowBundle: await workflowBundle(),
        shutdownForceTimeMs: 1_500,
        interceptors: {
          activity: [
            () => ({
              inbound: {
                execute: async () => {
                  entered = true;
                  await stuck;
                  return undefined;
                },
              },
            }),
          ],
        },
      });
      const running = worker.run();
      h.llm.enqueue({ steps: [{ text: 'never sent' }] });
      await h.start({ message: 'hello' });
      for (let i = 0; i < 300 && !entered; i++) await sleep(50);
      assert.ok(entered, 'the turn reached its first activity');

      const began = Date.now();
      worker.shutdown();
      const outcome = await Promise.race([
        running.then(
          () => 'stopped gracefully',
          (err: unknown) => err,
        ),
        sleep(20_000).then(() => 'still waiting after 20 s'),
      ]);
      const waited = Date.now() - began;
      // The SDK gives up with GracefulShutdownPeriodExpiredError, but its run() then rejects with whatever its own
      // cleanup throws next (1.24: "Workflow execution context should have been disposed first"): an error either way.
      assert.ok(outcome instanceof Error, `the shutdown ended with: ${String(outcome)}`);
      assert.ok(waited >= 1_500 && waited < 10_000, `gave up after ${waited} ms`);
    } finally {
      release();
      await connection.close();
    }
  });
});
