/**
 * The bench's `direct` system: the seed handler's shape with nothing durable in between. `POST /chat` with
 * `{ "message": "…" }` opens an `openai` stream and forwards each text delta to the caller at once as SSE
 * (`data: {"text":"…"}`), then `data: [DONE]`. The floor of every pipeline. Run as its own process by the bench.
 */
import { createServer, type IncomingMessage } from 'node:http';
import OpenAI from 'openai';
import { z } from 'zod';

const Env = z.object({
  DIRECT_PORT: z.coerce.number().int().min(1).max(65_535),
  OPENAI_BASE_URL: z.url(),
  OPENAI_API_KEY: z.string().min(1),
  OPENAI_MODEL: z.string().min(1),
});
const Body = z.strictObject({ message: z.string().min(1).max(10_000) });
const BODY_LIMIT = 64 * 1024;

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const parts: Buffer[] = [];
  for await (const part of req as AsyncIterable<Buffer>) {
    size += part.length;
    if (size > BODY_LIMIT) throw new Error('body too large');
    parts.push(part);
  }
  return Buffer.concat(parts).toString('utf8');
}

function main(): void {
  const env = Env.parse(process.env);
  const openai = new OpenAI({ baseURL: env.OPENAI_BASE_URL, apiKey: env.OPENAI_API_KEY, maxRetries: 0 });
  const server = createServer({ noDelay: true }, (req, res) => {
    res.on('error', () => undefined);
    void (async () => {
      if (req.method !== 'POST' || req.url !== '/chat') {
        res.writeHead(404).end();
        return;
      }
      const raw = await readBody(req);
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('the body is not JSON');
        return;
      }
      const body = Body.safeParse(json);
      if (!body.success) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(z.prettifyError(body.error));
        return;
      }
      const stream = await openai.chat.completions.create({
        model: env.OPENAI_MODEL,
        messages: [{ role: 'user', content: body.data.message }],
        stream: true,
      });
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      for await (const chunk of stream) {
        const text = chunk.choices[0]?.delta?.content;
        if (text) res.write(`data: ${JSON.stringify({ text })}\n\n`);
      }
      res.end('data: [DONE]\n\n');
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(err instanceof Error ? err.message : String(err));
    });
  });
  server.listen(env.DIRECT_PORT, '127.0.0.1');
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main();
