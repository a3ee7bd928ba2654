import { createUIMessageStreamResponse, type UIMessageChunk } from 'ai';
import type { Context } from 'hono';
import { followTurn, StalledReaderError, within, type EndReason, type StreamDeps } from '../follow';
import { UiChunkTranslator } from './ui-chunks';

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
): Response {
  const chunks = new TransformStream<UIMessageChunk, UIMessageChunk>();
  const writer = chunks.writable.getWriter();
  const translator = new UiChunkTranslator(messageId);
  const gone = new AbortController();
  const onGone = () => gone.abort();
  c.req.raw.signal.addEventListener('abort', onGone, { once: true });
  // The response body was cancelled (the reader went away): every write fails from now on.
  writer.closed.catch(onGone);
  const write = async (parts: UIMessageChunk[]) => {
    for (const part of parts) await writer.write(part);
  };
  const state = { last: 0 };
  const run = async () => {
    let reason: EndReason;
    try {
      await within(deps.writeTimeoutMs, write(translator.start()));
      reason = await followTurn(
        {
          event: (event) => write(translator.event(event)),
          keepAlive: () => write([KEEP_ALIVE]),
          closure: (closure) => write(translator.closure(closure)),
        },
        deps,
        turnId,
        state,
        gone.signal,
      );
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

/** Cuts the connection of a reader that stopped reading. */
function disconnect(c: Context): void {
  (c.env as { outgoing?: { destroy(): void } } | undefined)?.outgoing?.destroy();
}
