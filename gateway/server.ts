import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';

/** A gateway listening for HTTP. */
export interface GatewayServer {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  readonly port: number;
  /**
   * Stops accepting connections, lets requests in flight finish for up to `graceMs`, then cuts the rest
   * (event streams included: their clients resume elsewhere with `Last-Event-ID`). The turns run on.
   */
  close(graceMs?: number): Promise<void>;
}

/** Options of {@link startGatewayServer}. */
export interface ListenOptions {
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
}

/** Serves `app` on Node's HTTP server; resolves once it listens. */
export async function startGatewayServer(app: Hono, opts: ListenOptions = {}): Promise<GatewayServer> {
  const host = opts.host ?? '127.0.0.1';
  let server: ServerType | undefined;
  const address = await new Promise<AddressInfo>((resolve, reject) => {
    server = serve({ fetch: app.fetch, port: opts.port ?? 0, hostname: host }, resolve);
    server.once('error', reject);
  });
  const http = server!;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${address.port}`,
    port: address.port,
    close: (graceMs = 1_000) => closeServer(http, graceMs),
  };
}

async function closeServer(server: ServerType, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const cutAll = () => {
    if ('closeAllConnections' in server) server.closeAllConnections();
  };
  if ('closeIdleConnections' in server) server.closeIdleConnections();
  // Event streams never end on their own: give other requests a moment, then cut what is left.
  const timer = setTimeout(cutAll, graceMs);
  try {
    await closed;
  } finally {
    clearTimeout(timer);
  }
}
