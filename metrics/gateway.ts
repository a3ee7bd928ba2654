import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Buckets of the gateway's time to response headers (seconds; an event stream's headers, not its end). */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The gateway's metrics: what `createGatewayApp` reports to. */
export interface GatewayMetrics {
  /** Counts each request by route pattern (`/v1/conversations/:id/turns`, never the ids), method and status. */
  middleware: MiddlewareHandler;
  /** Reads the open event streams of every tenant at each scrape. */
  watchOpenStreams(open: (byTenant: (tenant: string, streams: number) => void) => void): void;
}

/** Options of {@link createGatewayMetrics}. */
export interface GatewayMetricsOptions {
  /** Add a `tenant` label to the open-streams gauge (`TURNFLOW_METRICS_TENANT_LABEL`). @default false */
  tenantLabel?: boolean;
}

/**
 * The gateway's metrics on `registry`: `turnflow_gateway_requests_total{route,method,status}`,
 * `turnflow_gateway_request_duration_seconds{route,method}` (to the response's headers) and
 * `turnflow_gateway_open_streams`.
 */
export function createGatewayMetrics(registry: Registry, opts: GatewayMetricsOptions = {}): GatewayMetrics {
  const registers = [registry];
  const requests = new Counter({
    name: 'turnflow_gateway_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status.',
    labelNames: ['route', 'method', 'status'],
    registers,
  });
  const duration = new Histogram({
    name: 'turnflow_gateway_request_duration_seconds',
    help: 'Time from a request to its response headers (an event stream counts until its headers).',
    labelNames: ['route', 'method'],
    buckets: REQUEST_BUCKETS,
    registers,
  });
  let readOpen: Parameters<GatewayMetrics['watchOpenStreams']>[0] = () => undefined;
  const tenant = opts.tenantLabel === true;
  new Gauge({
    name: 'turnflow_gateway_open_streams',
    help: 'Event streams (SSE and chat UI streams) open on this gateway.',
    labelNames: tenant ? ['tenant'] : [],
    registers,
    collect() {
      this.reset();
      let total = 0;
      readOpen((name, streams) => {
        if (tenant) this.set({ tenant: name }, streams);
        total += streams;
      });
      if (!tenant) this.set(total);
    },
  });
  return {
    middleware: async (c, next) => {
      const started = performance.now();
      await next();
      // The pattern of the handler that answered; unmatched paths share one label, so a scan adds no series.
      const matched = routePath(c, -1);
      const route = c.res.status === 404 && (matched === '/*' || matched === '*') ? 'unmatched' : matched;
      const method = c.req.method;
      requests.inc({ route, method, status: String(c.res.status) });
      duration.observe({ route, method }, (performance.now() - started) / 1000);
    },
    watchOpenStreams(open) {
      readOpen = open;
    },
  };
}
