import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { SSE_MALFORMED, sseData } from './chunks';
import type { CompletionEnvelope } from './chunks';
import { untilAborted } from './abort';
import { composeItems } from './compose';
import { openAiErrorBody } from './errors';
import { resolveFixturePath } from './fixtures';
import type { Gates } from './gates';
import { nowMs } from './request';
import type { MutableRecordedRequest } from './request';
import type { Script } from './script';

/** Reported after each SSE event the server writes. */
export interface ChunkSentInfo {
  requestIndex: number;
  chunkIndex: number;
  /** Epoch ms: `performance.timeOrigin + performance.now()` right after the write. */
  sentAt: number;
  /** The content of a text delta. */
  text?: string;
}

/** Everything one scripted response needs. */
export interface PlayContext {
  res: ServerResponse;
  script: Script;
  record: MutableRecordedRequest;
  fixturesDir: string;
  gates: Gates;
  /** Aborts when the client goes away or the server resets/closes. */
  signal: AbortSignal;
  onChunkSent: ((info: ChunkSentInfo) => void) | undefined;
}

/** Writes an HTTP error response with a JSON body. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(text);
}

/**
 * Performs one script on one response and leaves the outcome on `ctx.record`. Every wait is tied
 * to `ctx.signal`, so a client that goes away stops the script without leaving timers behind.
 */
export async function playScript(ctx: PlayContext): Promise<void> {
  const { res, script, record, signal } = ctx;
  const end = (outcome: MutableRecordedRequest['outcome']): void => {
    if (record.outcome === 'streaming') record.outcome = outcome;
    record.endedAt ??= nowMs();
  };
  if (script.httpError !== undefined) {
    const { status, headers = {}, body, message, type, code } = script.httpError;
    sendJson(res, status, body ?? openAiErrorBody(status, { message, type, code }), headers);
    return end('http_error');
  }
  const fixtures = await loadFixtures(script, ctx.fixturesDir);
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  res.flushHeaders();

  const env: CompletionEnvelope = {
    id: script.id ?? `chatcmpl-scripted-${record.index}`,
    created: Math.floor(Date.now() / 1000),
    model: record.body.model,
    includeUsage: record.body.stream_options?.include_usage === true,
  };
  const fired = new Set<string>();
  const due = (fault: string, after: number | undefined): boolean => {
    if (after !== record.chunksSent || fired.has(fault)) return false;
    fired.add(fault);
    return true;
  };
  // Returns true when the fault ended the response.
  const faults = async (): Promise<boolean> => {
    if (due('stall', script.stallAfterChunks)) {
      await (script.stallMs === undefined ? untilAborted(signal) : sleep(script.stallMs, undefined, { signal }));
    }
    if (due('malformed', script.malformedAfterChunks)) res.write(SSE_MALFORMED);
    if (due('errorEvent', script.errorEventAfterChunks)) {
      const error = openAiErrorBody(
        500,
        script.errorEvent ?? { message: 'Internal server error', type: 'internal_server_error' },
      );
      res.end(`event: error\n${sseData(error)}`);
      end('error_event');
      return true;
    }
    if (due('close', script.closeAfterChunks)) {
      // A well-formed end of the HTTP body in the middle of the SSE stream: what a proxy or provider
      // that gives up quietly sends.
      res.end();
      end('closed');
      return true;
    }
    if (due('drop', script.dropAfterChunks)) {
      end('dropped');
      // end() flushes what was written, then closes without the final HTTP chunk: a truncated body.
      if (res.socket === null) res.destroy();
      else res.socket.end();
      return true;
    }
    return false;
  };

  try {
    for (const item of composeItems(script, env, record.body, fixtures)) {
      signal.throwIfAborted();
      if (item.kind === 'gate') await ctx.gates.wait(item.name, signal);
      else if (item.kind === 'pause') await sleep(item.ms, undefined, { signal });
      else {
        if (await faults()) return;
        const wait = record.chunksSent === 0 ? (script.firstChunkDelayMs ?? 0) : item.delayMs;
        if (wait > 0) await sleep(wait, undefined, { signal });
        res.write(item.payload);
        if (!item.counted) continue;
        const info: ChunkSentInfo = { requestIndex: record.index, chunkIndex: record.chunksSent, sentAt: nowMs() };
        if (item.text !== undefined) info.text = item.text;
        record.chunksSent += 1;
        ctx.onChunkSent?.(info);
      }
    }
    if (await faults()) return;
    res.end();
    end('completed');
  } catch (err: unknown) {
    if (!signal.aborted) throw err;
    end('aborted');
    res.destroy();
  }
}

async function loadFixtures(script: Script, fixturesDir: string): Promise<Map<string, Buffer>> {
  const fixtures = new Map<string, Buffer>();
  for (const step of script.steps) {
    if ('fixture' in step && !fixtures.has(step.fixture)) {
      fixtures.set(step.fixture, await readFile(resolveFixturePath(step.fixture, fixturesDir)));
    }
  }
  return fixtures;
}
