import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { openAiErrorBody } from './errors';
import type { Gates } from './gates';
import { parseJson } from './http';
import { playScript, sendJson } from './player';
import type { ChunkSentInfo } from './player';
import { ChatRequest, nowMs, safeHeaders } from './request';
import type { MutableRecordedRequest, RecordedRequest, ScriptSource } from './request';
import type { Script } from './script';

/** What the chat route needs from the server. */
export interface ChatDeps {
  /** Recorded requests; the route appends to it. */
  records: MutableRecordedRequest[];
  pickScript: (request: RecordedRequest) => Promise<{ script: Script; source: ScriptSource }>;
  fixturesDir: string;
  gates: Gates;
  onChunkSent: () => ((info: ChunkSentInfo) => void) | undefined;
}

/**
 * Answers `POST /v1/chat/completions`: validates and records the request, picks its script and
 * plays it. `controller` aborts when the client goes away or the server resets or closes.
 */
export async function handleChat(
  deps: ChatDeps,
  req: IncomingMessage,
  res: ServerResponse,
  rawBody: string,
  controller: AbortController,
): Promise<void> {
  const parsed = ChatRequest.safeParse(parseJson(rawBody));
  if (!parsed.success) {
    const message = `Invalid chat completion request:\n${z.prettifyError(parsed.error)}`;
    return sendJson(res, 400, openAiErrorBody(400, { message }));
  }
  const record: MutableRecordedRequest = {
    index: deps.records.length,
    method: req.method ?? 'POST',
    url: req.url ?? '',
    body: parsed.data,
    headers: safeHeaders(req.headers),
    hasAuthorization: req.headers.authorization !== undefined,
    receivedAt: nowMs(),
    source: 'none',
    outcome: 'streaming',
    chunksSent: 0,
  };
  deps.records.push(record);
  if (parsed.data.stream !== true) {
    record.outcome = 'rejected';
    record.endedAt = nowMs();
    const message = 'The scripted LLM only supports streaming: set "stream": true.';
    return sendJson(res, 400, openAiErrorBody(400, { message, code: 'stream_required' }));
  }
  res.on('close', () => {
    if (res.writableFinished) return;
    if (record.outcome === 'streaming') record.outcome = 'aborted';
    record.endedAt ??= nowMs();
    controller.abort(new Error('client went away'));
  });
  try {
    const { script, source } = await deps.pickScript(record);
    record.source = source;
    const { fixturesDir, gates } = deps;
    await playScript({
      res,
      script,
      record,
      fixturesDir,
      gates,
      signal: controller.signal,
      onChunkSent: deps.onChunkSent(),
    });
  } catch (err: unknown) {
    if (record.outcome === 'streaming') record.outcome = 'failed';
    record.endedAt ??= nowMs();
    const message = `scripted LLM failed: ${err instanceof Error ? err.message : String(err)}`;
    if (!res.headersSent) sendJson(res, 500, openAiErrorBody(500, { message }));
    else res.destroy();
  }
}
