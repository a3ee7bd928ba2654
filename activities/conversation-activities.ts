import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { PersistenceOptions, publicFailureMessage, type TurnEventBody } from '../common';
import type { ActivityDeps } from './deps';
import { storageStep } from './repo/storage-failure';
import { inTransaction } from './repo/turns';
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
  /** Each steered request's own (claimed) turn id and its message. */
  steers: { turnId: string; message: string }[];
}

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
   * A queued turn cancelled before it started: marked cancelled without ever running (no message stored, so no
   * later turn sees it), and its readers told with a terminal `error` event.
   */
  async function dropQueuedTurn(input: DropQueuedTurnInput): Promise<void> {
    const errorType = 'turn.cancelled_while_queued';
    await storageStep(async () => {
      await deps.pool.query(
        `UPDATE turns SET status = 'cancelled', finish_reason = 'cancelled', completed_at = now(), error = $2::jsonb
         WHERE id = $1 AND status = 'queued'`,
        [input.turnId, JSON.stringify({ type: errorType, message: publicFailureMessage(errorType) })],
      );
      await writeOnce(input.turnId, 'error', { type: 'error', errorType, message: publicFailureMessage(errorType) });
    });
  }

  /**
   * Stores messages steered into a running turn (kind `steer`, once per steered request) and marks each steered
   * request's own turn as having joined it, in one transaction.
   */
  async function storeSteers(input: StoreSteersInput): Promise<void> {
    await storageStep(() =>
      inTransaction(deps.pool, async (db) => {
        for (const steer of input.steers) {
          const { rowCount } = await db.query(
            `INSERT INTO messages (tenant_id, conversation_id, turn_id, idem_key, kind, hop, content)
             SELECT tenant_id, conversation_id, id, $2, 'steer', $3, $4 FROM turns WHERE id = $1
             ON CONFLICT (idem_key) DO NOTHING`,
            [input.turnId, `${input.turnId}:steer:${steer.turnId}`, input.hop, steer.message],
          );
          if (rowCount === 0) {
            const stored = await db.query(`SELECT 1 FROM messages WHERE idem_key = $1`, [
              `${input.turnId}:steer:${steer.turnId}`,
            ]);
            if (!stored.rowCount) {
              throw ApplicationFailure.nonRetryable(`turn ${input.turnId} is not stored`, 'turn.not_stored');
            }
          }
          await db.query(`UPDATE turns SET status = 'steered', steered_into = $2 WHERE id = $1 AND status = 'queued'`, [
            steer.turnId,
            input.turnId,
          ]);
        }
      }),
    );
  }

  async function writeOnce(turnId: string, key: string, body: Exclude<TurnEventBody, { type: 'text' }>) {
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

  return { announceQueued, dropQueuedTurn, storeSteers };
}
