import { Context } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { startDirect, startWhileUndeleted } from '../client';
import { ChatTurnInput, PersistenceOptions, publicFailureMessage, type TurnEventBody } from '../common';
import type { ActivityDeps } from './deps';
import { sqlState, storageStep, toStorageFailure } from './repo/storage-failure';
import { inTransaction } from '../client/transaction';
import { StreamWriter } from './stream/writer';

/** Input of `announceQueued`. */
export interface AnnounceQueuedInput {
  turnId: string;
  /** 1 = next to run. */
  position: number;
  runningTurnId: string | null;
}

/** Input of `dropQueuedTurn`. */
export interface DropQueuedTurnInput {
  turnId: string;
}

/** Input of `storeSteers`: messages steered into `turnId`, entering its context before hop `hop`. */
export interface StoreSteersInput {
  turnId: string;
  hop: number;
  /**
   * Each steered request's own (claimed) turn id; its message is read from that turn's row, where the claim stored
   * it (`message` only in signals sent before messages stayed out of Temporal).
   */
  steers: { turnId: string; message?: string | undefined }[];
}

/** Input of `awaitDirectTurn`. */
export interface AwaitDirectTurnInput {
  turnId: string;
}

/** How often `awaitDirectTurn` heartbeats while it waits (the SDK sends at most one per 80 % of the timeout). */
const AWAIT_HEARTBEAT_MS = 2_000;

const DEFAULT_PERSISTENCE = PersistenceOptions.parse({});

/** Builds the activities of a conversation's ordering workflow (queue announcements, removals, steering). */
export function createConversationActivities(deps: ActivityDeps) {
  /** Tells the turn's readers that it waits (its first event; written once per turn). */
  async function announceQueued(input: AnnounceQueuedInput): Promise<void> {
    await storageStep(() =>
      writeOnce(input.turnId, 'queued', {
        type: 'queued',
        position: input.position,
        runningTurnId: input.runningTurnId,
      }),
    );
  }

  /**
   * A queued turn cancelled before it started: marked cancelled without ever running (its message, stored with the
   * claim, is dropped, so no later turn sees it), and its readers told with a terminal `error` event.
   */
  async function dropQueuedTurn(input: DropQueuedTurnInput): Promise<void> {
    const errorType = 'turn.cancelled_while_queued';
    await storageStep(async () => {
      const { rows } = await deps.pool.query<{ tenant_id: string; seconds: number }>(
        `UPDATE turns SET status = 'cancelled', finish_reason = 'cancelled', completed_at = now(), error = $2::jsonb,
                          message = NULL
         WHERE id = $1 AND status = 'queued'
         RETURNING tenant_id, extract(epoch FROM completed_at - created_at)::float8 AS seconds`,
        [input.turnId, JSON.stringify({ type: errorType, message: publicFailureMessage(errorType) })],
      );
      // Counted by the one call whose update ended it.
      for (const row of rows) {
        deps.metrics?.turnEnded({ tenantId: row.tenant_id, outcome: 'cancelled', durationSeconds: row.seconds });
      }
      await writeOnce(input.turnId, 'error', { type: 'error', errorType, message: publicFailureMessage(errorType) });
    });
  }

  /**
   * Stores messages steered into a running turn (kind `steer`, once per steered request) and marks each steered
   * request's own turn as having joined it, in one transaction.
   */
  async function storeSteers(input: StoreSteersInput): Promise<void> {
    const steered = await storageStep(() =>
      inTransaction(deps.pool, async (db) => {
        const ended: { tenant_id: string; seconds: number }[] = [];
        for (const steer of input.steers) {
          const { rowCount } = await db.query(
            `INSERT INTO messages (tenant_id, conversation_id, turn_id, idem_key, kind, hop, content)
             SELECT t.tenant_id, t.conversation_id, t.id, $2, 'steer', $3, COALESCE(s.message, $4)
             FROM turns t JOIN turns s ON s.id = $5 AND s.tenant_id = t.tenant_id
             WHERE t.id = $1 AND COALESCE(s.message, $4) IS NOT NULL
             ON CONFLICT (idem_key) DO NOTHING`,
            [input.turnId, `${input.turnId}:steer:${steer.turnId}`, input.hop, steer.message ?? null, steer.turnId],
          );
          if (rowCount === 0) {
            const stored = await db.query(`SELECT 1 FROM messages WHERE idem_key = $1`, [
              `${input.turnId}:steer:${steer.turnId}`,
            ]);
            if (!stored.rowCount) {
              throw ApplicationFailure.nonRetryable(`turn ${input.turnId} is not stored`, 'turn.not_stored');
            }
          }
          // The message now lives in the turn it joined: the claim's copy is cleared.
          const { rows } = await db.query<{ tenant_id: string; seconds: number }>(
            `UPDATE turns SET status = 'steered', steered_into = $2, message = NULL WHERE id = $1 AND status = 'queued'
             RETURNING tenant_id, extract(epoch FROM now() - created_at)::float8 AS seconds`,
            [steer.turnId, input.turnId],
          );
          ended.push(...rows);
        }
        return ended;
      }),
    );
    // Committed: each steered request counted by the one call whose update marked it.
    for (const row of steered) {
      deps.metrics?.turnEnded({ tenantId: row.tenant_id, outcome: 'steered', durationSeconds: row.seconds });
    }
  }

  /**
   * Resolves when a turn started directly (not by its conversation) has closed, whichever way it ended. A turn whose
   * workflow does not exist (its caller died between its claim and its start) is started here, from the start input
   * stored with its claim (the same workflow id: whichever start comes first runs it, the other attaches); a turn
   * with no stored row, one already ended, or one of a conversation being deleted, is over. Heartbeats while it waits: a lost worker is noticed and the
   * wait resumes elsewhere.
   */
  async function awaitDirectTurn(input: AwaitDirectTurnInput): Promise<void> {
    const ctx = Context.current();
    const { client } = ctx;
    const beat = setInterval(() => ctx.heartbeat(), AWAIT_HEARTBEAT_MS);
    try {
      for (;;) {
        try {
          await client.withAbortSignal(ctx.cancellationSignal, () => client.workflow.getHandle(input.turnId).result());
          return;
        } catch (err: unknown) {
          if (err instanceof WorkflowFailedError) return; // failed, cancelled, terminated or timed out: ended
          if (!(err instanceof WorkflowNotFoundError) || ctx.cancellationSignal.aborted) throw err;
        }
        if (!(await startStoredDirectTurn(input.turnId, ctx.info.taskQueue))) return;
      }
    } finally {
      clearInterval(beat);
    }
  }

  /**
   * Starts a direct turn from its stored input; false when there is nothing to start: no row, a turn that ended, or a
   * conversation being deleted. The last matters most: this activity outlives its conversation's workflow by up to a
   * heartbeat, and a deletion removes the turn's workflow (which this wait then finds missing) before its rows, so
   * only the deletion's mark, read and held with the start (`startWhileUndeleted`), keeps it from starting the turn
   * again after the deletion looked for it.
   */
  async function startStoredDirectTurn(turnId: string, taskQueue: string): Promise<boolean> {
    const ctx = Context.current();
    try {
      const held = await startWhileUndeleted(deps.pool, turnId, async ({ status, directInput }) => {
        if (directInput === null || (status !== 'queued' && status !== 'running')) return false;
        const parsed = ChatTurnInput.safeParse(directInput);
        if (!parsed.success || parsed.data.turnId !== turnId) {
          throw ApplicationFailure.nonRetryable(`turn ${turnId} has no valid stored start input`, 'turn.invalid_input');
        }
        deps.logger.warn({ turnId }, 'a direct turn was never started (its caller was lost): starting it');
        await ctx.client.withAbortSignal(ctx.cancellationSignal, () =>
          startDirect(ctx.client, parsed.data, { taskQueue, eagerStart: false }),
        );
        return true;
      });
      return held?.value ?? false;
    } catch (err: unknown) {
      // Postgres's errors are classified as every storage step's are; Temporal's are retried.
      throw sqlState(err) === undefined ? err : toStorageFailure(err);
    }
  }

  async function writeOnce(turnId: string, key: string, body: Exclude<TurnEventBody, { type: 'text' }>) {
    // A turn deleted with its conversation (its start reached the conversation late) has no stream to write to: its
    // conversation must not wait on it.
    if (!(await deps.pool.query(`SELECT 1 FROM turns WHERE id = $1`, [turnId])).rowCount) {
      deps.logger.info({ turnId, event: body.type }, 'turn deleted with its conversation: nothing to announce');
      return;
    }
    const writer = await StreamWriter.open(deps.pool, {
      turnId,
      hop: 0,
      attempt: Context.current().info.attempt,
      persistence: DEFAULT_PERSISTENCE,
    });
    try {
      await writer.event(body, key);
      await writer.close();
    } finally {
      writer.abandon();
    }
  }

  return { announceQueued, dropQueuedTurn, storeSteers, awaitDirectTurn };
}
