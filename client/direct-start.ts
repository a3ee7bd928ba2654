import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type pg from 'pg';
import { turnStartAttributes, type ChatTurnInput } from '../common';
import type { chatTurn } from '../workflows';
import type { EventHub, LiveMessage } from './event-hub';

/**
 * The plain start of a direct turn (its workflow id is its turn id: a second start of one request is refused, and
 * attaches). True when it had been started before.
 */
export async function startDirect(
  temporal: Client,
  input: ChatTurnInput,
  opts: { taskQueue: string; eagerStart: boolean },
): Promise<boolean> {
  try {
    await temporal.workflow.start<typeof chatTurn>('chatTurn', {
      workflowId: input.turnId,
      taskQueue: opts.taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: turnStartAttributes(input),
      staticSummary: `turn · direct · ${input.tenantId} · ${input.conversationId}`,
      ...(opts.eagerStart ? { requestEagerStart: true } : {}),
    });
    return false;
  } catch (err: unknown) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return true;
    throw err;
  }
}

/**
 * Re-reads of the turn's row while no announcement came (first delay, doubling up to the last): with the LISTEN
 * connection only a safety net (an announcement lost, or a worker too old to send one), without it the way to hear.
 */
const REREAD_MS = { listening: { first: 200, max: 1_000 }, polling: { first: 10, max: 250 } } as const;

/** Waits for a worker to take a turn started directly: see {@link watchTakenByWorker}. */
export interface TakenWatch {
  /** True once a worker took the turn, false when `deadlineAt` (epoch ms) passed first. */
  until(deadlineAt: number): Promise<boolean>;
  /** Stops listening. */
  close(): void;
}

/**
 * Watches for the evidence that a worker took a turn started directly: its row leaves `queued`. The turn's first
 * LLM activity does that before its request (it prepares the turn: `ensureTurn` moves the row to `running` and, in the
 * same statement, announces it on the stream log's NOTIFY channel, see `startedAnnouncement`), or fails it (`failed`,
 * announced by its `error` event). Both happen before the model is asked, so waiting for them delays the start's
 * answer, never the model request.
 *
 * Why this signal: the plain start returns once Temporal stored the workflow, worker or not; the row's status is the
 * first thing a worker writes, it is precise (the workflow task ran, the message is in the conversation), and with the
 * LISTEN connection the process already holds it is heard within a millisecond of its commit, for one extra NOTIFY per
 * direct turn and one read of the row per start. Temporal's own view (`describe()`'s pending workflow task, a history
 * long poll for `WorkflowTaskStarted`) would cost a Temporal call per check or a long poll per start.
 *
 * Listening starts here, so call it before the start (the LISTEN connection comes up meanwhile). Without `hub`, or
 * while its connection is down, the row is read with backoff ({@link REREAD_MS}); a missing row (the conversation was
 * deleted meanwhile) counts as taken: there is nothing left to wait for.
 */
export function watchTakenByWorker(db: Pick<pg.Pool, 'query'>, hub: EventHub | undefined, turnId: string): TakenWatch {
  let started = false;
  let heard = false;
  let wake: (() => void) | undefined;
  const onLive = (message: LiveMessage) => {
    if (message.kind === 'started') started = true;
    heard = true;
    wake?.();
  };
  // A hub that cannot listen (its connection down) leaves the watch reading the row.
  const listening: Promise<(() => void) | undefined> = hub
    ? hub.subscribe(turnId, onLive).catch(() => undefined)
    : Promise.resolve(undefined);
  let closed = false;
  return {
    async until(deadlineAt) {
      const unsubscribe = await beforeDeadline(listening, deadlineAt);
      const backoff = unsubscribe ? REREAD_MS.listening : REREAD_MS.polling;
      for (let delay: number = backoff.first; ; delay = Math.min(delay * 2, backoff.max)) {
        if (started) return true;
        heard = false;
        if (await leftQueue(db, turnId)) return true;
        const left = deadlineAt - Date.now();
        if (left <= 0) return false;
        if (heard || started) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(delay, left));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    },
    close() {
      if (closed) return;
      closed = true;
      void listening.then((unsubscribe) => unsubscribe?.());
    },
  };
}

/** What `promise` settles with, or `undefined` once `deadlineAt` (epoch ms) has passed first. */
async function beforeDeadline<T>(promise: Promise<T>, deadlineAt: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, deadlineAt - Date.now()));
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function leftQueue(db: Pick<pg.Pool, 'query'>, turnId: string): Promise<boolean> {
  const { rows } = await db.query<{ status: string }>(`SELECT status FROM turns WHERE id = $1`, [turnId]);
  return rows[0]?.status !== 'queued';
}
