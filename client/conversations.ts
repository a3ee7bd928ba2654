import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { z } from 'zod';
import { conversationWorkflowIdFor } from '../common';
import { inTransaction } from './transaction';
import { EVENTS_CHANNEL, packPayloads, rereadAnnouncement } from '../stream-log';
import { InvalidPageCursorError } from './approvals';

/** A conversation as its tenant's list shows it (never more of its text than the title). */
export interface ConversationSummary {
  id: string;
  createdAt: string;
  /** When a message was last sent to it. */
  lastActivityAt: string;
  /** Its turns (a message steered into a running turn is part of that turn, not one of its own). */
  turnCount: number;
  /** Its first user message, cut to {@link TITLE_CHARS} characters; empty before that message is stored. */
  title: string;
}

/** Characters of the first user message a {@link ConversationSummary.title} keeps. */
export const TITLE_CHARS = 80;

/**
 * A page of the tenant's conversations, most recent activity first; pass `next` as `after` for the next page.
 * Conversations being deleted are not listed.
 * @throws InvalidPageCursorError for an `after` this function did not issue.
 */
export async function listConversations(
  pool: Pick<pg.Pool, 'query'>,
  tenantId: string,
  page: { limit?: number; after?: string } = {},
): Promise<{ conversations: ConversationSummary[]; next: string | null }> {
  const limit = Math.min(Math.max(page.limit ?? 50, 1), 200);
  const after = page.after === undefined ? null : decodeCursor(page.after);
  const { rows } = await pool.query<{
    id: string;
    created_at: Date;
    last_activity_at: Date;
    turn_count: number;
    title: string | null;
  }>(
    // The title: the first stored user message, or (before the turn's first activity moved it) the first claim's.
    `SELECT c.id, c.created_at, c.last_activity_at,
       (SELECT count(*)::int FROM turns t
        WHERE t.tenant_id = c.tenant_id AND t.conversation_id = c.id AND t.status <> 'steered') AS turn_count,
       left(coalesce(
         (SELECT m.content FROM messages m
          WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.kind = 'user' ORDER BY m.id LIMIT 1),
         (SELECT t.message FROM turns t
          WHERE t.tenant_id = c.tenant_id AND t.conversation_id = c.id AND t.message IS NOT NULL
          ORDER BY t.created_at, t.id LIMIT 1)), ${TITLE_CHARS}) AS title
     FROM conversations c
     WHERE c.tenant_id = $1 AND c.deleting_since IS NULL
       AND ($3::timestamptz IS NULL OR (c.last_activity_at, c.id) < ($3::timestamptz, $4::text))
     ORDER BY c.last_activity_at DESC, c.id DESC LIMIT $2`,
    [tenantId, limit + 1, after?.at ?? null, after?.id ?? null],
  );
  const conversations = rows.slice(0, limit).map((r) => ({
    id: r.id,
    createdAt: r.created_at.toISOString(),
    lastActivityAt: r.last_activity_at.toISOString(),
    turnCount: r.turn_count,
    title: r.title ?? '',
  }));
  const last = rows.length > limit ? rows[limit - 1] : undefined;
  return { conversations, next: last ? encodeCursor(last.last_activity_at, last.id) : null };
}

function encodeCursor(at: Date, id: string): string {
  return Buffer.from(JSON.stringify([at.toISOString(), id])).toString('base64url');
}

const PageCursor = z.tuple([z.iso.datetime(), z.string().min(1).max(128)]);

function decodeCursor(cursor: string): { at: Date; id: string } {
  try {
    const [at, id] = PageCursor.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return { at: new Date(at), id };
  } catch (err: unknown) {
    throw new InvalidPageCursorError('invalid page cursor', { cause: err });
  }
}

/** What {@link deleteConversation} needs. */
export interface DeleteConversationDeps {
  temporal: Client;
  pool: pg.Pool;
}

/**
 * How long a deletion waits for Temporal to have removed the workflows it deleted. A running workflow goes at once;
 * a closed one can take tens of seconds (the server removes it in the background).
 */
const GONE_WITHIN_MS = 120_000;

/**
 * Deletes a tenant's conversation for good: its running turn is stopped and its queued ones dropped (their
 * workflows and the conversation's, every run, are deleted from Temporal), its messages, turns, stream rows, tool
 * results, approvals and retry errors are deleted from Postgres, and it returns once Temporal no longer has any of
 * its workflows. Usage figures (`llm_usage`: numbers and ids only) stay. `not_found` for a conversation the tenant
 * does not have (missing, another tenant's, or deleted before).
 *
 * Safe to repeat and to run concurrently: the first step marks the conversation as being deleted (from then on
 * every read answers "missing" and every claim is refused, see client/access.ts), so a deletion that stopped half
 * way is finished by the next call. A turn claimed before that mark is deleted with the rest: a start of its workflow
 * from Node (`startWhileUndeleted`) lands before the mark or not at all; one through the conversation's workflow that
 * reaches Temporal only after the deletion finds no stored turn and ends without storing anything. The mark goes last,
 * once Temporal has let go of the turns' workflow ids: then the same conversation id (even the same request id) starts
 * a new, empty conversation.
 * @throws Error when Temporal still holds a deleted workflow after {@link GONE_WITHIN_MS}; the text is gone by then,
 *   and calling again finishes the deletion.
 */
export async function deleteConversation(
  deps: DeleteConversationDeps,
  tenantId: string,
  conversationId: string,
): Promise<'deleted' | 'not_found'> {
  // Locked FOR UPDATE first: the mark waits for every start of one of its turns' workflows in flight (each holds the
  // row, see `startWhileUndeleted`), so the workflows looked for below include theirs, and none starts after it.
  const { rowCount } = await deps.pool.query(
    `WITH held AS (SELECT tenant_id, id FROM conversations WHERE tenant_id = $1 AND id = $2 FOR UPDATE)
     UPDATE conversations c SET deleting_since = coalesce(c.deleting_since, now())
     FROM held WHERE c.tenant_id = held.tenant_id AND c.id = held.id`,
    [tenantId, conversationId],
  );
  if (!rowCount) return 'not_found';

  // Temporal first, the conversation's workflow before its turns: nothing starts a queued turn any more, and a
  // running turn is terminated before its rows go.
  const conversationRuns = await runsOf(deps.temporal, conversationWorkflowIdFor(tenantId, conversationId));
  const deleted = await requestDeletion(deps.temporal, conversationRuns);
  const { rows } = await deps.pool.query<{ id: string }>(
    `SELECT id FROM turns WHERE tenant_id = $1 AND conversation_id = $2`,
    [tenantId, conversationId],
  );
  deleted.push(
    ...(await requestDeletion(
      deps.temporal,
      rows.map((r) => ({ workflowId: r.id })),
    )),
  );
  await deleteRows(
    deps.pool,
    tenantId,
    conversationId,
    rows.map((r) => r.id),
  );
  await waitUntilGone(deps.temporal, deleted);
  await deps.pool.query(`DELETE FROM conversations WHERE tenant_id = $1 AND id = $2 AND deleting_since IS NOT NULL`, [
    tenantId,
    conversationId,
  ]);
  return 'deleted';
}

/** Every row of the conversation but its own (the deletion's mark), in one transaction. */
async function deleteRows(pool: pg.Pool, tenantId: string, conversationId: string, turnIds: string[]): Promise<void> {
  await inTransaction(pool, async (db) => {
    // Locks the turns: an activity still writing for one of them waits, then finds it gone (every such row
    // references its turn), so nothing is written after this.
    await db.query(`SELECT 1 FROM turns WHERE tenant_id = $1 AND conversation_id = $2 FOR UPDATE`, [
      tenantId,
      conversationId,
    ]);
    await db.query(`DELETE FROM messages WHERE tenant_id = $1 AND conversation_id = $2`, [tenantId, conversationId]);
    // Cascades to the stream (turn_events), tool approvals and their reasons, tool retry errors and LLM failures.
    await db.query(`DELETE FROM turns WHERE tenant_id = $1 AND conversation_id = $2`, [tenantId, conversationId]);
    // Delivered at commit: readers following one of its turns read again, find it gone and end.
    await db.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [
      EVENTS_CHANNEL,
      packPayloads(turnIds.map(rereadAnnouncement)),
    ]);
  });
}

interface Execution {
  workflowId: string;
  runId?: string;
}

/** Every run of a workflow id Temporal still holds (a conversation continues as new between turns). */
async function runsOf(temporal: Client, workflowId: string): Promise<Execution[]> {
  const runs: Execution[] = [{ workflowId }];
  // Ids are letters, digits, '.', '_', '-' and '/' (common/ids.ts): nothing to escape in the query.
  for await (const run of temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    runs.push({ workflowId, runId: run.runId });
  }
  return runs;
}

const executionOf = (e: Execution) => ({ workflowId: e.workflowId, runId: e.runId ?? null });

/**
 * Asks Temporal to delete the executions (a running one is terminated at once); those it had, each by its run id. An
 * execution named by workflow id alone is resolved to its current run first: a start arriving meanwhile may begin a
 * new run under the same id, which is not the one being deleted (and must not be waited for).
 */
async function requestDeletion(temporal: Client, executions: Execution[]): Promise<Execution[]> {
  const namespace = temporal.options.namespace;
  const runs = await Promise.all(
    executions.map(async (e): Promise<Execution | undefined> => {
      if (e.runId !== undefined) return e;
      try {
        const described = await temporal.workflowService.describeWorkflowExecution({
          namespace,
          execution: executionOf(e),
        });
        const runId = described.workflowExecutionInfo?.execution?.runId;
        return runId ? { workflowId: e.workflowId, runId } : undefined;
      } catch (err: unknown) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    }),
  );
  const known = runs.filter((e): e is Execution => e !== undefined);
  const had = await Promise.all(
    known.map((e) =>
      exists(() => temporal.workflowService.deleteWorkflowExecution({ namespace, workflowExecution: executionOf(e) })),
    ),
  );
  return known.filter((_, i) => had[i]);
}

/**
 * Waits until Temporal no longer has the executions, so a new turn under a deleted turn's id can start (turn
 * workflow ids are never reused while their history exists).
 */
async function waitUntilGone(temporal: Client, executions: Execution[]): Promise<void> {
  const namespace = temporal.options.namespace;
  const deadline = Date.now() + GONE_WITHIN_MS;
  let left = executions;
  while (left.length > 0) {
    const present = await Promise.all(
      left.map((e) =>
        exists(() => temporal.workflowService.describeWorkflowExecution({ namespace, execution: executionOf(e) })),
      ),
    );
    left = left.filter((_, i) => present[i]);
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`Temporal still holds ${left.length} deleted workflow(s) of the conversation; delete it again`);
    }
    await sleep(250);
  }
}

/** False when the call answers "not found". */
async function exists(call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (err: unknown) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 5;
}
