import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { z } from 'zod';

/**
 * OTLP/JSON `AnyValue` (opentelemetry-proto, JSON mapping): exactly one of its fields. 64-bit integers may arrive as
 * strings (protobuf JSON) or numbers.
 */
type AnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string | number }
  | { doubleValue: number }
  | { arrayValue: { values?: AnyValue[] | undefined } }
  | { kvlistValue: { values?: { key: string; value: AnyValue }[] | undefined } }
  | { bytesValue: string }
  | Record<string, never>;
const AnyValue: z.ZodType<AnyValue> = z.lazy(() =>
  z.union([
    z.object({ stringValue: z.string() }).strict(),
    z.object({ boolValue: z.boolean() }).strict(),
    z.object({ intValue: z.union([z.string().regex(/^-?\d+$/), z.number().int()]) }).strict(),
    z.object({ doubleValue: z.number() }).strict(),
    z.object({ arrayValue: z.object({ values: z.array(AnyValue).optional() }) }).strict(),
    z.object({ kvlistValue: z.object({ values: z.array(KeyValue).optional() }) }).strict(),
    z.object({ bytesValue: z.string() }).strict(),
    // No value set (an attribute whose value was undefined).
    z.object({}).strict(),
  ]),
);
const KeyValue = z.object({ key: z.string(), value: AnyValue });
const Hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));
const Nanos = z.union([z.string().regex(/^\d+$/), z.number().int()]);

const OtlpSpan = z.object({
  traceId: Hex(16),
  spanId: Hex(8),
  parentSpanId: z.union([Hex(8), z.literal('')]).optional(),
  name: z.string(),
  kind: z.number().int().min(0).max(5),
  startTimeUnixNano: Nanos,
  endTimeUnixNano: Nanos,
  attributes: z.array(KeyValue).default([]),
  events: z
    .array(z.object({ name: z.string(), timeUnixNano: Nanos, attributes: z.array(KeyValue).default([]) }))
    .default([]),
  links: z.array(z.object({ traceId: Hex(16), spanId: Hex(8), attributes: z.array(KeyValue).default([]) })).default([]),
  status: z.object({ code: z.number().int().min(0).max(2).optional(), message: z.string().optional() }).default({}),
});

/** `ExportTraceServiceRequest` in the OTLP/HTTP JSON encoding. */
export const ExportTraceServiceRequest = z.object({
  resourceSpans: z.array(
    z.object({
      resource: z.object({ attributes: z.array(KeyValue).default([]) }).default({ attributes: [] }),
      scopeSpans: z.array(
        z.object({
          scope: z.object({ name: z.string(), version: z.string().optional() }).optional(),
          spans: z.array(OtlpSpan).default([]),
        }),
      ),
    }),
  ),
});

/** A plain attribute value. */
export type AttrValue = string | number | boolean | null | AttrValue[] | { [key: string]: AttrValue };

/** A received span, decoded. */
export interface ReceivedSpan {
  service: string;
  scope: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, AttrValue>;
  links: { traceId: string; spanId: string; attributes: Record<string, AttrValue> }[];
  events: { name: string; attributes: Record<string, AttrValue> }[];
  status: { code: number; message: string | undefined };
}

function value(v: AnyValue): AttrValue {
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('arrayValue' in v) return (v.arrayValue.values ?? []).map(value);
  if ('kvlistValue' in v) return attributes(v.kvlistValue.values ?? []);
  if ('bytesValue' in v) return v.bytesValue;
  return null;
}

function attributes(kvs: readonly { key: string; value: AnyValue }[]): Record<string, AttrValue> {
  return Object.fromEntries(kvs.map((kv) => [kv.key, value(kv.value)]));
}

/** An OTLP/HTTP receiver (`POST /v1/traces`, JSON encoding) that keeps every span and the raw bodies it got. */
export interface OtlpReceiver {
  /** Base URL, for `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  endpoint: string;
  spans: ReceivedSpan[];
  /** Every request body as received (decompressed), to search for text that must not be there. */
  bodies: string[];
  /** Resolves once `predicate` holds over the spans received (polling). */
  waitFor(predicate: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts a receiver on a free port; a body that is not a valid OTLP JSON export is answered 400 and recorded. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const bodies: string[] = [];
  const invalid: string[] = [];
  const server = createServer((req, res) => {
    void readBody(req).then(
      (raw) => {
        if (req.method !== 'POST' || req.url !== '/v1/traces') return void res.writeHead(404).end();
        if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
          invalid.push(`content-type ${req.headers['content-type']}`);
          return void res.writeHead(415).end();
        }
        const text = raw.toString('utf8');
        bodies.push(text);
        const parsed = ExportTraceServiceRequest.safeParse(JSON.parse(text));
        if (!parsed.success) {
          invalid.push(z.prettifyError(parsed.error));
          return void res.writeHead(400).end();
        }
        for (const rs of parsed.data.resourceSpans) {
          const resource = attributes(rs.resource.attributes);
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans) {
              spans.push({
                service: typeof resource['service.name'] === 'string' ? resource['service.name'] : '',
                scope: ss.scope?.name ?? '',
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId || undefined,
                name: s.name,
                kind: s.kind,
                startNs: BigInt(s.startTimeUnixNano),
                endNs: BigInt(s.endTimeUnixNano),
                attributes: attributes(s.attributes),
                links: s.links.map((l) => ({
                  traceId: l.traceId,
                  spanId: l.spanId,
                  attributes: attributes(l.attributes),
                })),
                events: s.events.map((e) => ({ name: e.name, attributes: attributes(e.attributes) })),
                status: { code: s.status.code ?? 0, message: s.status.message },
              });
            }
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      },
      () => res.writeHead(400).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    bodies,
    async waitFor(predicate, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(spans)) {
        if (invalid.length > 0) throw new Error(`invalid OTLP payloads: ${invalid.join('; ')}`);
        if (Date.now() > deadline) throw new Error(`spans not received in ${timeoutMs} ms (${spans.length} so far)`);
        await new Promise((r) => setTimeout(r, 100));
      }
      if (invalid.length > 0) throw new Error(`invalid OTLP payloads: ${invalid.join('; ')}`);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  return req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
}
