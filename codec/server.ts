import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';

/** Largest request body the codec server reads (a page of a history's payloads), in bytes. */
export const CODEC_BODY_LIMIT_BYTES = 16 * 1024 * 1024;

/** Options of {@link codecRequestHandler}. */
export interface CodecServerOptions {
  codec: PayloadCodec;
  /**
   * SHA-256 hex digests of the bearer tokens accepted. Empty: every request is accepted (only `npm start`'s embedded
   * stack does that, on localhost, because the embedded UI has no token to pass).
   */
  tokenHashes: readonly string[];
  /** Origins whose pages may call it (the Temporal UI's), answered with CORS headers. */
  corsOrigins: readonly string[];
  /** Path the `/encode` and `/decode` routes sit under. @default '/codec' */
  basePath?: string;
}

/** A payload as the Temporal UI and CLI send it to a codec server: protobuf JSON, bytes in base64. */
const JsonPayload = z.object({
  metadata: z.record(z.string().max(256), z.base64()).nullish(),
  data: z.base64().nullish(),
});
const JsonPayloads = z.object({ payloads: z.array(JsonPayload).max(100_000) });

/**
 * A Temporal remote codec server: `POST <basePath>/encode` and `POST <basePath>/decode` take and return
 * `{ "payloads": [ { "metadata": { k: base64 }, "data": base64 } ] }` and run them through `codec`, so an operator's
 * Temporal UI (or `temporal workflow show --codec-endpoint`) shows encrypted payloads in the clear. Every request
 * but a CORS preflight needs `Authorization: Bearer <token>` (unless no token is configured); allowed origins get
 * CORS headers (credentials included, for a UI that forwards its user's token or cookies).
 */
export function codecRequestHandler(opts: CodecServerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const base = (opts.basePath ?? '/codec').replace(/\/+$/, '');
  const hashes = opts.tokenHashes.map((h) => Buffer.from(h.toLowerCase(), 'hex'));
  const authorized = (header: string | undefined): boolean => {
    if (hashes.length === 0) return true;
    const match = /^Bearer ([^\s]{1,4096})$/i.exec(header ?? '');
    if (!match) return false;
    const digest = createHash('sha256').update(match[1]!).digest();
    return hashes.some((h) => h.length === digest.length && timingSafeEqual(h, digest));
  };

  return (req, res) => {
    const origin = req.headers.origin;
    if (origin && opts.corsOrigins.includes(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Vary', 'Origin');
    }
    const path = (req.url ?? '/').split('?')[0];
    const route = path === `${base}/encode` ? 'encode' : path === `${base}/decode` ? 'decode' : undefined;
    if (!route) return answer(res, 404, { error: 'not found' });
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'authorization, content-type, x-namespace');
      res.setHeader('Access-Control-Max-Age', '600');
      res.writeHead(204).end();
      return;
    }
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST, OPTIONS');
      return answer(res, 405, { error: 'method not allowed' });
    }
    if (!authorized(req.headers.authorization)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return answer(res, 401, { error: 'a valid bearer token is required' });
    }
    readBody(req, CODEC_BODY_LIMIT_BYTES)
      .then(async (body) => {
        if (body === undefined) return answer(res, 413, { error: 'body too large' });
        let parsed: z.infer<typeof JsonPayloads>;
        try {
          parsed = JsonPayloads.parse(JSON.parse(body.toString('utf8')));
        } catch {
          return answer(res, 400, { error: 'expected {"payloads":[{"metadata":{…},"data":"base64"}]}' });
        }
        const payloads = parsed.payloads.map(fromJson);
        let out: Payload[];
        try {
          out = route === 'encode' ? await opts.codec.encode(payloads) : await opts.codec.decode(payloads);
        } catch (err: unknown) {
          // Our own errors (unknown key id, a payload that does not decrypt): no payload content in them.
          return answer(res, 400, { error: err instanceof Error ? err.message : 'codec failed' });
        }
        return answer(res, 200, { payloads: out.map(toJson) });
      })
      .catch(() => {
        if (!res.headersSent) answer(res, 400, { error: 'could not read the request' });
        else res.destroy();
      });
  };
}

/** A running codec server. */
export interface CodecServer {
  /** `http://host:port` + the base path: what `--ui-codec-endpoint` takes. */
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

/** Starts {@link codecRequestHandler} on `host:port` (port 0: a free one). */
export async function startCodecServer(
  opts: CodecServerOptions & { port?: number; host?: string },
): Promise<CodecServer> {
  const server: Server = createServer(codecRequestHandler(opts));
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    endpoint: `http://${shown}:${port}${(opts.basePath ?? '/codec').replace(/\/+$/, '')}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** The body, or `undefined` past `limit` bytes. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function fromJson(p: z.infer<typeof JsonPayload>): Payload {
  const metadata: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) metadata[k] = Buffer.from(v, 'base64');
  return { metadata, data: Buffer.from(p.data ?? '', 'base64') };
}

function toJson(p: Payload): { metadata: Record<string, string>; data: string } {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) metadata[k] = Buffer.from(v).toString('base64');
  return { metadata, data: Buffer.from(p.data ?? new Uint8Array()).toString('base64') };
}
