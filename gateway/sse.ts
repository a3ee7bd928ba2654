import type { Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import type { TurnEvent } from '../common';
import { followTurn, StalledReaderError, within, type EndReason, type StreamDeps, type TurnSink } from './follow';
import type { TurnClosure } from './outcome';

export type { StreamDeps } from './follow';

/** The answer to `HEAD` on an event stream: its headers, and no subscription behind them. */
export function eventStreamHead(c: Context): Response {
  return c.body(null, 200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
}

/**
 * Answers with the turn's events after `after` as Server-Sent Events: `id:` is the event's cursor (so
 * `Last-Event-ID` resumes), `event:` its type, `data:` the event as JSON. A `: keep-alive` comment is sent after
 * `keepAliveMs` without events. The stream ends after `done` or `error`. If the turn's workflow closes without
 * either in its stream, the stored events are flushed and a final `event: error` without an `id:` says why.
 * A client that goes away only stops this subscription; the turn runs on. So does a client that stops reading:
 * after `writeTimeoutMs` of backpressure its connection is cut. `onEnd` runs once when the stream is over.
 */
export function streamTurnEvents(
  c: Context,
  deps: StreamDeps,
  turnId: string,
  after: number,
  onEnd: () => void = () => undefined,
): Response {
  return streamSSE(c, async (stream) => {
    const gone = new AbortController();
    const onGone = () => gone.abort();
    stream.onAbort(onGone);
    c.req.raw.signal.addEventListener('abort', onGone, { once: true });
    const state = { last: after };
    let reason: EndReason;
    try {
      reason = await followTurn(sseSink(stream, turnId), deps, turnId, state, gone.signal);
    } catch (err: unknown) {
      if (err instanceof StalledReaderError) {
        reason = 'stalled';
        disconnect(c, stream);
      } else {
        reason = 'failed';
        deps.logger.error({ err, turnId, last: state.last }, 'event stream failed');
        await within(
          deps.writeTimeoutMs,
          writeFinalError(stream, turnId, {
            errorType: 'gateway.stream_failed',
            message: 'the event stream failed; reconnect with Last-Event-ID to resume',
          }),
        ).catch(() => disconnect(c, stream));
      }
    } finally {
      c.req.raw.signal.removeEventListener('abort', onGone);
      onEnd();
    }
    deps.logger.debug({ turnId, after, last: state.last, reason }, 'event stream ended');
  });
}

/** Writes a turn's events as SSE frames: `id:` the cursor, `event:` the type, `data:` the event as JSON. */
function sseSink(stream: SSEStreamingApi, turnId: string): TurnSink {
  return {
    event: (event: TurnEvent) =>
      stream.writeSSE({ id: String(event.cursor), event: event.type, data: JSON.stringify(event) }),
    keepAlive: async () => {
      await stream.write(': keep-alive\n\n');
    },
    closure: (closure: TurnClosure) => writeFinalError(stream, turnId, closure),
  };
}

/** Cuts the connection of a stalled reader (its buffers are full; nothing more can reach it anyway). */
function disconnect(c: Context, stream: SSEStreamingApi): void {
  stream.abort();
  // On Node (@hono/node-server) the raw response is at hand: destroy its socket so the client sees the end.
  (c.env as { outgoing?: { destroy(): void } } | undefined)?.outgoing?.destroy();
}

async function writeFinalError(stream: SSEStreamingApi, turnId: string, closure: TurnClosure): Promise<void> {
  await stream.writeSSE({ event: 'error', data: JSON.stringify({ turnId, type: 'error', ...closure }) });
}
