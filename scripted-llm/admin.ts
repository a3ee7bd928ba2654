import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import { openAiErrorBody, ScriptError } from './errors';
import { parseJson } from './http';
import { sendJson } from './player';
import type { ScriptedLlm } from './types';

const EnqueueBody = z.object({ scripts: z.array(z.unknown()).min(1) });
const ReleaseBody = z.object({ gate: z.string().min(1) });

/**
 * Control routes for an out-of-process server (`main.ts`): benchmarks and end-to-end runs script
 * it over HTTP.
 * - `POST /_scripted/enqueue` `{ "scripts": [Script, …] }`
 * - `POST /_scripted/release` `{ "gate": "name" }`
 * - `POST /_scripted/reset`
 * - `GET /_scripted/requests`
 */
export function handleAdmin(
  llm: ScriptedLlm,
  method: string,
  path: string,
  rawBody: string,
  res: ServerResponse,
): void {
  const route = `${method} ${path}`;
  try {
    if (route === 'POST /_scripted/enqueue') {
      const body = EnqueueBody.parse(parseJson(rawBody));
      llm.enqueue(...(body.scripts as Parameters<ScriptedLlm['enqueue']>));
      return sendJson(res, 200, { queued: body.scripts.length });
    }
    if (route === 'POST /_scripted/release') {
      llm.release(ReleaseBody.parse(parseJson(rawBody)).gate);
      return sendJson(res, 200, { ok: true });
    }
    if (route === 'POST /_scripted/reset') {
      llm.reset();
      return sendJson(res, 200, { ok: true });
    }
    if (route === 'GET /_scripted/requests') return sendJson(res, 200, { requests: llm.requests });
  } catch (err: unknown) {
    const message =
      err instanceof z.ZodError ? z.prettifyError(err) : err instanceof ScriptError ? err.message : String(err);
    return sendJson(res, 400, openAiErrorBody(400, { message }));
  }
  sendJson(res, 404, openAiErrorBody(404, { message: `Invalid URL (${route})`, code: 'unknown_url' }));
}
