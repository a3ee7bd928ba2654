import { readUIMessageStream, type UIMessage, type UIMessageChunk } from 'ai';
import type pg from 'pg';
import { STORED_EVENTS_PAGE, type TurnClient } from '../../client';
import { pendingApprovalIds, storedResultsOf } from './approve';
import { ReaderView } from './reader-view';
import { recentTurnsOf } from './turns-of-chat';
import { answerMessageId, UiChunkTranslator, type StoredToolResult } from './ui-chunks';

/**
 * A chat's history as the AI SDK's `UIMessage[]`, for a frontend's first render: per turn the user's message (its
 * id is the request id the frontend chose) and, once the turn has ended, the answer with every part the live stream
 * had (steps, text, tool calls and results), folded from the turn's stored events by the same translator and the
 * `ai` package's own `readUIMessageStream`. A running turn's answer is left out (the frontend resumes it from
 * `GET /v1/chat/:id/stream`, which replays it from its start), unless the turn waits for a person: then the answer
 * so far is listed, its waiting calls `approval-requested`.
 */
export async function chatHistory(
  pool: pg.Pool,
  turns: TurnClient,
  tenant: string,
  conversationId: string,
  limit: number,
): Promise<UIMessage[]> {
  const messages: UIMessage[] = [];
  for (const turn of await recentTurnsOf(pool, tenant, conversationId, limit)) {
    if (turn.userText !== null) {
      messages.push({ id: turn.requestId, role: 'user', parts: [{ type: 'text', text: turn.userText }] });
    }
    // A queued turn has no answer yet; a running one is resumed from the stream, unless it waits for a person:
    // then its answer so far, with the calls waiting for approval, is part of the history (a reload shows them).
    if (turn.status === 'queued') continue;
    const waiting = turn.status === 'running';
    if (waiting && (await pendingApprovalIds(pool, tenant, turn.turnId)).length === 0) continue;
    const answer = await foldTurn(turns, turn.turnId, answerMessageId(turn.requestId), async (view) =>
      // The round's other calls may have results not announced yet (that happens when the round ends).
      waiting ? storedResultsOf(pool, tenant, turn.turnId, view.round, view.unsettled()) : [],
    );
    if (answer.parts.length > 0) messages.push(answer);
  }
  return messages;
}

/** The answer message a reader of the whole UI message stream of a turn ends with. */
async function foldTurn(
  turns: TurnClient,
  turnId: string,
  messageId: string,
  stored: (view: ReaderView) => Promise<StoredToolResult[]>,
): Promise<UIMessage> {
  const translator = new UiChunkTranslator(messageId);
  const view = new ReaderView();
  const chunks: UIMessageChunk[] = translator.start();
  for (let after = 0, full = true; full;) {
    const page = await turns.storedEvents(turnId, after);
    full = page.length === STORED_EVENTS_PAGE;
    for (const event of page) {
      view.observe(event);
      chunks.push(...translator.event(event));
    }
    after = page.at(-1)?.cursor ?? after;
  }
  chunks.push(...translator.storedResults(await stored(view)));
  const stream = new ReadableStream<UIMessageChunk>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  let message: UIMessage = { id: messageId, role: 'assistant', parts: [] };
  // An `error` part is the turn's, already stored as its outcome: the parts before it are still the answer.
  for await (const state of readUIMessageStream({ stream, onError: () => undefined })) message = state;
  return message;
}
