import { setTimeout as sleep } from 'node:timers/promises';
import { createUIMessageStreamResponse, type UIMessageChunk } from 'ai';
import type { TurnEvent } from '../../common';
import type { Context } from 'hono';
import { followTurn, StalledReaderError, within, type EndReason, type StreamDeps } from '../follow';
import { ReaderView } from './reader-view';
import { UiChunkTranslator, type StoredToolResult } from './ui-chunks';

/**
 * A transient data part: a UI message stream has no comment lines, and a transient part is dropped by every
 * reader (never added to a message). It keeps proxies from closing an idle stream during long tool calls.
 */
const KEEP_ALIVE: UIMessageChunk = { type: 'data-turnflow-keep-alive', data: null, transient: true };

/**
 * Answers with a turn as the AI SDK's UI message stream (`x-vercel-ai-ui-message-stream: v1`): its events from
 * the start, translated by {@link UiChunkTranslator}, serialised by the `ai` package's own
 * `createUIMessageStreamResponse` (`data: {part}` lines, `data: [DONE]` at the end). Like the SSE event stream, a
 * reader that goes away only ends this stream (the turn runs on), and one that stops reading is cut after
 * `writeTimeoutMs`. `onEnd` runs once when the stream is over.
 */
export function streamChatTurn(
  c: Context,
  deps: StreamDeps,
  turnId: string,
  messageId: string,
  onEnd: () => void = () => undefined,
  options: ChatStreamOptions = {},
): Response {
  const chunks = new TransformStream<UIMessageChunk, UIMessageChunk>();
  const writer = chunks.writable.getWriter();
  const translator = new UiChunkTranslator(messageId, options.from?.hop);
  const approvals = options.approvals;
  const view = options.from?.view ?? new ReaderView();
  let pausedWith: StoredToolResult[] = [];
  const gone = new AbortController();
  const onGone = () => gone.abort();
  c.req.raw.signal.addEventListener('abort', onGone, { once: true });
  // The response body was cancelled (the reader went away): every write fails from now on.
  writer.closed.catch(onGone);
  const write = async (parts: UIMessageChunk[]) => {
    for (const part of parts) await writer.write(part);
  };
  const state = { last: options.from?.after ?? 0 };
  const run = async () => {
    let reason: EndReason;
    try {
      await within(deps.writeTimeoutMs, write(translator.start()));
      reason = await followTurn(
        {
          event: (event) => write(translator.event(event)),
          keepAlive: () => write([KEEP_ALIVE]),
          closure: (closure) => write(translator.closure(closure)),
          ...(approvals
            ? {
                pauseAfter: async (event: TurnEvent) => {
                  const shown = await waitsForReader(event, view, approvals);
                  if (shown) pausedWith = shown;
                  return shown !== undefined;
                },
              }
            : {}),
        },
        deps,
        turnId,
        state,
        gone.signal,
      );
      if (reason === 'paused') {
        await within(
          deps.writeTimeoutMs,
          write([...translator.storedResults(pausedWith), ...translator.awaiting(turnId)]),
        );
      }
      if (reason === 'client-closed') await writer.abort().catch(() => undefined);
      else await writer.close();
    } catch (err: unknown) {
      if (err instanceof StalledReaderError || gone.signal.aborted) {
        reason = err instanceof StalledReaderError ? 'stalled' : 'client-closed';
        await writer.abort(err).catch(() => undefined);
        disconnect(c);
      } else {
        reason = 'failed';
        deps.logger.error({ err, turnId, last: state.last }, 'chat stream failed');
        await within(
          deps.writeTimeoutMs,
          write([{ type: 'error', errorText: 'the stream failed; reload to resume the answer' }]).then(() =>
            writer.close(),
          ),
        ).catch(() => disconnect(c));
      }
    } finally {
      c.req.raw.signal.removeEventListener('abort', onGone);
      onEnd();
    }
    deps.logger.debug({ turnId, last: state.last, reason }, 'chat stream ended');
  };
  void run();
  return createUIMessageStreamResponse({ stream: chunks.readable });
}

/** Where a chat stream starts, and how it ends at calls waiting for a person. */
export interface ChatStreamOptions {
  /** Continue a message the reader holds: from after cursor `after`, inside step `hop`, with `view` of it. */
  from?: { after: number; hop: number; view: ReaderView };
  /** Given, the stream ends at calls waiting for a person once the reader holds them all. */
  approvals?: ApprovalLookups;
}

/** What a stream that ends at calls waiting for a person asks Postgres. */
export interface ApprovalLookups {
  /** The ids of the turn's approvals waiting for a decision. */
  pending(): Promise<string[]>;
  /** The stored results of these calls of round `hop` (those stored so far). */
  results(hop: number, toolCallIds: string[]): Promise<StoredToolResult[]>;
}

/** How long a stream at calls waiting for a person waits for the round's other calls to store their results. */
const OTHER_RESULTS_WAIT_MS = 30_000;
const OTHER_RESULTS_POLL_MS = 200;

/**
 * Whether the stream should end after `event`, and the stored results the reader must be shown first: the turn
 * waits for a person on calls the reader has all been shown (decisions the reader cannot know of yet keep it open:
 * their `approval_decided` follows), and the round's other calls have stored their results (waited for up to
 * {@link OTHER_RESULTS_WAIT_MS}; a call still running then is shown running).
 */
async function waitsForReader(
  event: TurnEvent,
  view: ReaderView,
  lookups: ApprovalLookups,
): Promise<StoredToolResult[] | undefined> {
  view.observe(event);
  if (!view.mayPauseAfter(event)) return undefined;
  if (!view.showsAll(await lookups.pending())) return undefined;
  const others = view.unsettled();
  const deadline = Date.now() + OTHER_RESULTS_WAIT_MS;
  for (;;) {
    const stored = others.length === 0 ? [] : await lookups.results(view.round, others);
    if (stored.length === others.length || Date.now() >= deadline) return stored;
    await sleep(OTHER_RESULTS_POLL_MS);
  }
}

/** Cuts the connection of a reader that stopped reading. */
function disconnect(c: Context): void {
  (c.env as { outgoing?: { destroy(): void } } | undefined)?.outgoing?.destroy();
}
