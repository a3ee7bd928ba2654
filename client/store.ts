import type pg from 'pg';
import { TurnEvent } from '../common';

interface EventRow {
  cursor: string;
  prev: string;
  hop: number;
  attempt: number;
  type: string;
  data: Record<string, unknown>;
}

/** Rows {@link storedEventsAfter} reads at most per call; a full page means more may follow. */
export const STORED_EVENTS_PAGE = 1_000;

/**
 * Stored events of a turn after `after`, in cursor order, at most `limit` (one event per row, so a result of
 * `limit` events means more may be stored: read again after the last one).
 */
export async function storedEventsAfter(
  db: pg.Pool,
  turnId: string,
  after: number,
  limit = STORED_EVENTS_PAGE,
): Promise<TurnEvent[]> {
  const { rows } = await db.query<EventRow>(
    `SELECT cursor, prev, hop, attempt, type, data FROM turn_events
     WHERE turn_id = $1 AND cursor > $2 ORDER BY cursor LIMIT $3`,
    [turnId, after, limit],
  );
  const events: TurnEvent[] = [];
  for (const row of rows) {
    const cursor = Number(row.cursor);
    let data = row.data;
    let prev = Number(row.prev);
    if (row.type === 'text' && Array.isArray(row.data['lengths'])) {
      const resumed = resumeCompacted(row.data as unknown as CompactedText, cursor, prev, after);
      if (resumed === undefined) continue;
      data = { text: resumed.text };
      prev = resumed.prev;
    }
    events.push(TurnEvent.parse({ ...data, turnId, cursor, prev, hop: row.hop, attempt: row.attempt, type: row.type }));
  }
  return events;
}

/** A compacted run of text deltas (see activities/stream/compact.ts). */
interface CompactedText {
  text: string;
  firstCursor: number;
  lengths: number[];
}

/**
 * The part of a compacted run a reader that has seen everything up to `after` has not seen yet, as one event at
 * the run's last cursor; `undefined` when it has seen it all.
 */
function resumeCompacted(
  run: CompactedText,
  cursor: number,
  prev: number,
  after: number,
): { text: string; prev: number } | undefined {
  if (after >= cursor) return undefined;
  const seen = Math.max(0, after - run.firstCursor + 1);
  if (seen === 0) return { text: run.text, prev };
  const offset = run.lengths.slice(0, seen).reduce((a, b) => a + b, 0);
  return { text: run.text.slice(offset), prev: after };
}

/** A message of a conversation as a user sees it: their messages and the turns' final answers. */
export interface ConversationMessage {
  id: string;
  turnId: string;
  role: 'user' | 'assistant';
  content: string;
  finishReason: string | null;
  model: string | null;
  createdAt: string;
}

/** The conversation of `tenant` as the user saw it, oldest first (another tenant's is as empty as a missing one). */
export async function conversationMessages(
  db: pg.Pool,
  tenant: string,
  conversationId: string,
  opts: { limit?: number; before?: string } = {},
): Promise<ConversationMessage[]> {
  const { rows } = await db.query<{
    id: string;
    turn_id: string;
    kind: 'user' | 'steer' | 'final';
    content: string | null;
    finish_reason: string | null;
    model: string | null;
    created_at: Date;
  }>(
    `SELECT * FROM (
       SELECT id, turn_id, kind, content, finish_reason, model, created_at FROM messages
       WHERE tenant_id = $4 AND conversation_id = $1 AND kind IN ('user', 'steer', 'final')
         AND ($3::bigint IS NULL OR id < $3::bigint)
       ORDER BY id DESC LIMIT $2) recent
     ORDER BY id`,
    [conversationId, opts.limit ?? 100, opts.before ?? null, tenant],
  );
  return rows.map((r) => ({
    id: r.id,
    turnId: r.turn_id,
    role: r.kind === 'final' ? 'assistant' : 'user',
    content: r.content ?? '',
    finishReason: r.finish_reason,
    model: r.model,
    createdAt: r.created_at.toISOString(),
  }));
}

/** The stored final message of a turn. */
export async function finalMessageOf(
  db: pg.Pool,
  turnId: string,
): Promise<{ id: string; content: string } | undefined> {
  const { rows } = await db.query<{ id: string; content: string | null }>(
    `SELECT id, content FROM messages WHERE turn_id = $1 AND kind = 'final'`,
    [turnId],
  );
  const row = rows[0];
  return row && { id: row.id, content: row.content ?? '' };
}

/** Where a stored turn stands (`queued` until its conversation starts it; `steered` into another turn). */
export async function turnState(
  db: pg.Pool,
  turnId: string,
): Promise<{ status: string; steeredInto: string | null } | undefined> {
  const { rows } = await db.query<{ status: string; steered_into: string | null }>(
    `SELECT status, steered_into FROM turns WHERE id = $1`,
    [turnId],
  );
  const row = rows[0];
  return row && { status: row.status, steeredInto: row.steered_into };
}
