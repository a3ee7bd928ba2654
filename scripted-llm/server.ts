import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleAdmin } from './admin';
import { handleChat } from './chat';
import type { ChatDeps } from './chat';
import { demoScript } from './demo';
import { openAiErrorBody } from './errors';
import { resolveFixturePath, resolveFixturesDir } from './fixtures';
import { Gates } from './gates';
import { BodyTooLargeError, modelInfo, readBody } from './http';
import { sendJson } from './player';
import type { MutableRecordedRequest } from './request';
import { parseScript } from './script';
import type { Script } from './script';
import type { Responder, ScriptedLlm, ScriptedLlmOptions } from './types';

/** Starts the scripted OpenAI-compatible server on real HTTP. */
export async function startScriptedLlm(opts: ScriptedLlmOptions = {}): Promise<ScriptedLlm> {
  const host = opts.host ?? '127.0.0.1';
  const fixturesDir = resolveFixturesDir(opts.fixturesDir);
  const gates = new Gates();
  const queue: Script[] = [];
  const records: MutableRecordedRequest[] = [];
  const inFlight = new Map<Promise<void>, AbortController>();
  let responder: Responder | undefined;

  const validate = (input: unknown): Script => {
    const script = parseScript(input);
    for (const step of script.steps) if ('fixture' in step) resolveFixturePath(step.fixture, fixturesDir);
    return script;
  };
  const abortAll = (reason: string): void => {
    for (const controller of inFlight.values()) controller.abort(new Error(reason));
  };

  const llm: ScriptedLlm = {
    baseURL: '',
    port: 0,
    requests: records,
    onChunkSent: opts.onChunkSent,
    enqueue: (...scripts) => {
      queue.push(...scripts.map(validate)); // validate all before queueing any
    },
    respond: (fn) => {
      responder = fn;
    },
    release: (name) => gates.release(name),
    gateReached: (name) => gates.whenReached(name),
    idle: async () => {
      while (inFlight.size > 0) await Promise.allSettled(inFlight.keys());
    },
    reset: () => {
      abortAll('scripted LLM reset');
      queue.length = 0;
      records.length = 0;
      responder = undefined;
      gates.reset();
    },
    close: async () => {
      abortAll('scripted LLM closed');
      await llm.idle();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };

  const chatDeps: ChatDeps = {
    records,
    fixturesDir,
    gates,
    onChunkSent: () => llm.onChunkSent,
    pickScript: async (request) => {
      const queued = queue.shift();
      if (queued !== undefined) return { script: queued, source: 'queue' };
      if (responder !== undefined) return { script: validate(await responder(request)), source: 'responder' };
      return { script: demoScript(request.body), source: 'demo' };
    },
  };

  const route = async (req: IncomingMessage, res: ServerResponse, controller: AbortController): Promise<void> => {
    const { pathname } = new URL(req.url ?? '/', 'http://scripted-llm');
    const path = pathname.replace(/\/+$/, '');
    if (req.method === 'POST' && path === '/v1/chat/completions') {
      return handleChat(chatDeps, req, res, await readBody(req), controller);
    }
    if (req.method === 'GET' && path === '/v1/models') {
      return sendJson(res, 200, { object: 'list', data: [modelInfo('scripted-demo')] });
    }
    if (req.method === 'GET' && path.startsWith('/v1/models/')) {
      return sendJson(res, 200, modelInfo(decodeURIComponent(path.slice('/v1/models/'.length))));
    }
    if (opts.admin === true && path.startsWith('/_scripted/')) {
      return handleAdmin(llm, req.method ?? 'GET', path, await readBody(req), res);
    }
    const message = `Invalid URL (${req.method ?? 'GET'} ${pathname})`;
    sendJson(res, 404, openAiErrorBody(404, { message, code: 'unknown_url' }));
  };

  const server = createServer({ noDelay: true }, (req, res) => {
    res.on('error', () => undefined); // writes racing a departed client are expected
    const controller = new AbortController();
    const done = route(req, res, controller).catch((err: unknown) => {
      const status = err instanceof BodyTooLargeError ? 413 : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (!res.headersSent) sendJson(res, status, openAiErrorBody(status, { message }));
      else res.destroy();
    });
    inFlight.set(done, controller);
    void done.finally(() => inFlight.delete(done));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return Object.assign(llm, { port, baseURL: `http://${urlHost}:${port}/v1` });
}
