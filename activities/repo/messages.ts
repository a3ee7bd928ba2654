import type { Pool, PoolClient } from 'pg';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { messageKeys, type Usage } from '../../common';

/** A tool call as the model made it and as it is stored on the hop message. */
export interface StoredToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

interface MessageRow {
  id: string;
  turn_id: string;
  kind: 'user' | 'steer' | 'hop' | 'tool' | 'final';
  hop: number | null;
  content: string | null;
  tool_calls: StoredToolCall[] | null;
  tool_call_id: string | null;
}

/**
 * The messages to send the model for a hop of `turnId`: earlier turns as the user saw them (user message, messages
 * steered into them, final answer), then this turn's user message, each earlier hop's assistant message and its
 * tool results in the order the model asked for them, and the messages steered into this turn where they arrived
 * (by id: after the tool results of the hop before their boundary). An earlier turn that a newer message
 * interrupted (`finish_reason: interrupted`) shows its complete tool rounds too: its answer never got to say what
 * they did, and calls denied because the user moved on must be seen as denied. Turns are ordered by their user
 * message, which a turn stores when it starts: with the conversation running its turns one at a time, that is the
 * order they were accepted in, and a later turn's message is never stored before an earlier turn ended.
 */
export async function loadContext(pool: Pool, turnId: string): Promise<ChatCompletionMessageParam[]> {
  // Turns are ordered by their user message; an earlier turn contributes its user message and final answer.
  const { rows } = await pool.query<MessageRow>(
    `WITH me AS (SELECT id AS user_id, tenant_id, conversation_id FROM messages WHERE idem_key = $2),
          turn_order AS (
            SELECT u.turn_id, u.id AS user_id FROM messages u, me
            WHERE u.tenant_id = me.tenant_id AND u.conversation_id = me.conversation_id AND u.kind = 'user'
              AND u.id <= me.user_id)
     SELECT m.id, m.turn_id, m.kind, m.hop, m.content, m.tool_calls, m.tool_call_id
     FROM messages m JOIN turn_order o ON o.turn_id = m.turn_id JOIN turns t ON t.id = m.turn_id
     WHERE m.turn_id = $1 OR m.kind IN ('user', 'steer', 'final')
        OR (m.kind IN ('hop', 'tool') AND t.finish_reason = 'interrupted')
     ORDER BY o.user_id, m.id`,
    [turnId, messageKeys.user(turnId)],
  );
  const context: ChatCompletionMessageParam[] = [];
  // By turn and call id: scripted and some providers' call ids repeat across turns.
  const toolResults = new Map<string, MessageRow>();
  const resultKey = (turn: string, callId: string) => `${turn}\n${callId}`;
  for (const row of rows) if (row.kind === 'tool') toolResults.set(resultKey(row.turn_id, row.tool_call_id!), row);
  for (const row of rows) {
    if (row.kind === 'user' || row.kind === 'steer') context.push({ role: 'user', content: row.content ?? '' });
    else if (row.kind === 'final') context.push({ role: 'assistant', content: row.content ?? '' });
    else if (row.kind === 'hop') {
      const calls = row.tool_calls ?? [];
      // Only a hop whose every call has a result can be shown to the model (providers reject the rest).
      if (calls.length === 0 || !calls.every((c) => toolResults.has(resultKey(row.turn_id, c.id)))) continue;
      context.push({ role: 'assistant', content: row.content, tool_calls: calls });
      for (const call of calls) {
        const result = toolResults.get(resultKey(row.turn_id, call.id))!;
        context.push({ role: 'tool', tool_call_id: call.id, content: result.content ?? '' });
      }
    }
  }
  return context;
}

/** What one hop of the model produced. */
export interface HopMessage {
  turnId: string;
  hop: number;
  attempt: number;
  content: string | null;
  toolCalls: StoredToolCall[];
  finishReason: string | null;
  usage: Usage | null;
  model: string;
  /** Fingerprints of the described tools the hop was offered, by name (see `ToolDescription.fingerprint`). */
  toolFingerprints?: Record<string, string>;
}

/**
 * Stores the hop's assistant message keyed by (turn, hop). A later attempt replaces an earlier attempt's row
 * (the earlier one was superseded); an earlier attempt finishing late never overwrites a later one.
 */
export async function saveHopMessage(pool: Pool | PoolClient, msg: HopMessage): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO messages (tenant_id, conversation_id, turn_id, idem_key, kind, hop, attempt, content, tool_calls,
                           finish_reason, usage, model, tool_fingerprints)
     SELECT tenant_id, conversation_id, id, $2, 'hop', $3, $4, $5, $6, $7, $8, $9, $10 FROM turns WHERE id = $1
     ON CONFLICT (idem_key) DO UPDATE
       SET attempt = EXCLUDED.attempt, content = EXCLUDED.content, tool_calls = EXCLUDED.tool_calls,
           finish_reason = EXCLUDED.finish_reason, usage = EXCLUDED.usage, model = EXCLUDED.model,
           tool_fingerprints = EXCLUDED.tool_fingerprints
       WHERE messages.attempt <= EXCLUDED.attempt
     RETURNING id`,
    [
      msg.turnId,
      messageKeys.hop(msg.turnId, msg.hop),
      msg.hop,
      msg.attempt,
      msg.content,
      msg.toolCalls.length > 0 ? JSON.stringify(msg.toolCalls) : null,
      msg.finishReason,
      msg.usage ? JSON.stringify(msg.usage) : null,
      msg.model,
      msg.toolFingerprints && Object.keys(msg.toolFingerprints).length > 0
        ? JSON.stringify(msg.toolFingerprints)
        : null,
    ],
  );
  if (rows[0]) return rows[0].id;
  const existing = await pool.query<{ id: string }>(`SELECT id FROM messages WHERE idem_key = $1`, [
    messageKeys.hop(msg.turnId, msg.hop),
  ]);
  return existing.rows[0]!.id;
}

/** The tool calls stored on a hop message (in the order the model made them). */
export async function hopToolCalls(db: Pool | PoolClient, turnId: string, hop: number): Promise<StoredToolCall[]> {
  const { rows } = await db.query<{ tool_calls: StoredToolCall[] | null }>(
    `SELECT tool_calls FROM messages WHERE idem_key = $1`,
    [messageKeys.hop(turnId, hop)],
  );
  return rows[0]?.tool_calls ?? [];
}

/** One tool call's stored result. */
export interface ToolResultRow {
  toolCallId: string;
  name: string;
  content: string;
  isError: boolean;
}

/** The stored result of a tool call, if it ran to completion before. */
export async function getToolResult(
  pool: Pool,
  turnId: string,
  hop: number,
  toolCallId: string,
): Promise<ToolResultRow | undefined> {
  const { rows } = await pool.query<{ tool_call_id: string; tool_name: string; content: string; is_error: boolean }>(
    `SELECT tool_call_id, tool_name, content, is_error FROM messages WHERE idem_key = $1`,
    [messageKeys.toolResult({ turnId, hop, toolCallId })],
  );
  const row = rows[0];
  return row && { toolCallId: row.tool_call_id, name: row.tool_name, content: row.content, isError: row.is_error };
}

/**
 * Stores a tool result once; returns the stored one (the first writer's, if a retry raced it), with `insertedFor`
 * the turn's tenant when this call inserted it (`null` when it was stored already: count nothing then).
 */
export async function saveToolResult(
  pool: Pool,
  turnId: string,
  hop: number,
  result: ToolResultRow,
): Promise<ToolResultRow & { insertedFor: string | null }> {
  const { rows } = await pool.query<{ tenant_id: string }>(
    `INSERT INTO messages (tenant_id, conversation_id, turn_id, idem_key, kind, hop, tool_call_id, tool_name, content,
                           is_error)
     SELECT tenant_id, conversation_id, id, $2, 'tool', $3, $4, $5, $6, $7 FROM turns WHERE id = $1
     ON CONFLICT (idem_key) DO NOTHING
     RETURNING tenant_id`,
    [
      turnId,
      messageKeys.toolResult({ turnId, hop, toolCallId: result.toolCallId }),
      hop,
      result.toolCallId,
      result.name,
      result.content,
      result.isError,
    ],
  );
  const inserted = rows[0];
  // Inserted: what is stored is what was given. Else an earlier attempt stored it first: read the one stored.
  if (inserted) return { ...result, insertedFor: inserted.tenant_id };
  return { ...(await getToolResult(pool, turnId, hop, result.toolCallId))!, insertedFor: null };
}

/** The turn's hop messages in hop order: what the final answer is compacted from. */
export async function hopMessages(
  db: Pool | PoolClient,
  turnId: string,
): Promise<{ hop: number; content: string | null; usage: Usage | null; model: string | null }[]> {
  const { rows } = await db.query<{ hop: number; content: string | null; usage: Usage | null; model: string | null }>(
    `SELECT hop, content, usage, model FROM messages WHERE turn_id = $1 AND kind = 'hop' ORDER BY hop`,
    [turnId],
  );
  return rows;
}

/**
 * The text a hop's latest LLM attempt announced and stored as stream events (a `reset` opens a later attempt, so its
 * reader dropped what came before): what a reader of the hop saw when no message of the hop was stored.
 */
export async function announcedText(db: Pool | PoolClient, turnId: string, hop: number): Promise<string> {
  const { rows } = await db.query<{ text: string | null }>(
    `SELECT string_agg(data->>'text', '' ORDER BY cursor) AS text FROM turn_events
     WHERE turn_id = $1 AND hop = $2 AND type = 'text'
       AND attempt = (SELECT max(attempt) FROM turn_events WHERE turn_id = $1 AND hop = $2 AND type IN ('text', 'reset'))`,
    [turnId, hop],
  );
  return rows[0]?.text ?? '';
}

/** The fingerprints of the described tools a hop was offered, by name (empty when it was offered none). */
export async function hopToolFingerprints(
  db: Pool | PoolClient,
  turnId: string,
  hop: number,
): Promise<Record<string, string>> {
  const { rows } = await db.query<{ tool_fingerprints: Record<string, string> | null }>(
    `SELECT tool_fingerprints FROM messages WHERE idem_key = $1`,
    [messageKeys.hop(turnId, hop)],
  );
  return rows[0]?.tool_fingerprints ?? {};
}
