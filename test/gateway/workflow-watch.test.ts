import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { TerminatedFailure } from '@temporalio/common';
import { temporal as proto } from '@temporalio/proto';
import pino from 'pino';
import { DEV_SERVER_DYNAMIC_CONFIG, restartableDevServer, type RestartableDevServer } from '../../dev';
import { watchWorkflow, type WatchDeps } from '../../gateway/watch';
import { uniqueId, uniqueTaskQueue } from '../support';

/** The server's long poll for a workflow's close event, shortened from 20 s so one test spans many polls. */
const LONG_POLL_MS = 1_000;

const abortListeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length;

/** Starts a watch and samples the abort listeners on its stream's signal 6 times, `everyMs` apart. */
async function watchSampled(deps: WatchDeps, workflowId: string, everyMs: number) {
  const stream = new AbortController();
  const outcome = watchWorkflow(deps, workflowId, stream.signal).then(
    () => 'settled' as const,
    (err: unknown) => err,
  );
  const counts: number[] = [];
  for (let i = 0; i < 6; i += 1) {
    await sleep(everyMs);
    counts.push(abortListeners(stream.signal));
  }
  return { stream, outcome, counts };
}

describe('gateway: the workflow watch of a stream', function () {
  this.timeout(120_000);
  let server: RestartableDevServer;
  let connection: Connection;
  let temporal: Client;

  before(async () => {
    server = await restartableDevServer({
      dynamicConfig: [...DEV_SERVER_DYNAMIC_CONFIG, `history.longPollExpirationInterval="${LONG_POLL_MS / 1000}s"`],
    });
    await server.start();
    connection = await Connection.connect({ address: server.address });
    temporal = new Client({ connection });
  });

  after(async () => {
    await connection?.close();
    await server?.destroy();
  });

  const deps = (isQueued: () => boolean): WatchDeps => ({
    temporal,
    turns: {
      isQueued: () => Promise.resolve(isQueued()),
      result: () => Promise.reject(new Error('the watch asks Temporal when it has a client')),
    },
    logger: pino({ level: 'silent' }),
  });

  it('holds at most one abort listener on its signal however many long polls it spans, and settles when the workflow closes', async () => {
    // A workflow no worker runs stays open: every long poll for its close event comes back empty.
    const workflowId = uniqueId('watched');
    const handle = await temporal.workflow.start('nobodyRunsThis', { workflowId, taskQueue: uniqueTaskQueue('watch') });
    // The server answers an empty long poll after LONG_POLL_MS, so the watch below spans several polls.
    const polledAt = Date.now();
    const empty = await temporal.workflowService.getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId },
      waitNewEvent: true,
      historyEventFilterType: proto.api.enums.v1.HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
    });
    assert.equal(empty.history?.events?.length ?? 0, 0);
    assert.ok(Date.now() - polledAt < 3 * LONG_POLL_MS, `one long poll took ${Date.now() - polledAt} ms`);

    const sampled = await watchSampled(
      deps(() => false),
      workflowId,
      LONG_POLL_MS,
    );
    const { stream, outcome: watch, counts } = sampled;
    assert.ok(
      counts.every((n) => n <= 1),
      `abort listeners on the stream's signal, once a second over 6 long polls: ${counts.join(', ')}`,
    );

    await handle.terminate('the turn ended');
    const outcome = await watch;
    assert.ok(outcome instanceof WorkflowFailedError, `the watch settled with ${String(outcome)}`);
    assert.ok(outcome.cause instanceof TerminatedFailure);
    assert.equal(abortListeners(stream.signal), 0);
  });

  it('holds at most one abort listener while its turn waits in the queue, and none once its stream goes', async () => {
    // No workflow for a queued turn yet: the watch asks again every 250 ms, one Temporal call each time.
    let asked = 0;
    const isQueued = () => {
      asked += 1;
      return true;
    };
    const { stream, outcome: watch, counts } = await watchSampled(deps(isQueued), uniqueId('queued'), 500);
    assert.ok(asked >= 6, `the watch asked ${asked} times whether the turn is queued`);
    assert.ok(
      counts.every((n) => n <= 1),
      `abort listeners on the stream's signal: ${counts.join(', ')}`,
    );

    stream.abort();
    const outcome = await watch;
    assert.notEqual(outcome, 'settled', 'the watch ends with its stream');
    assert.equal(abortListeners(stream.signal), 0);
  });
});
