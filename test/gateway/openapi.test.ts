import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020';
import pg from 'pg';
import type { TurnClient } from '../../client';
import { createGatewayApp, TenantDirectory } from '../../gateway';
import { API_ROUTES, toOpenApiPath } from '../../gateway/openapi';

/**
 * The OpenAPI document (`GET /v1/openapi.json`). No request here reaches a handler that talks to Postgres or
 * Temporal: the pool never connects and the turn client is never called, so this file needs neither.
 */
function app() {
  return createGatewayApp({
    turns: undefined as unknown as TurnClient,
    pool: new pg.Pool({ max: 1 }),
    tenants: TenantDirectory.dev(),
  });
}

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; responses: Record<string, unknown> };
};
type Operation = {
  parameters?: { in: string; name: string; required?: boolean; schema: object }[];
  requestBody?: { content: Record<string, { schema: object }> };
  responses: Record<string, unknown>;
  security?: unknown[];
};

async function fetchDocument(): Promise<Doc> {
  const res = await app().request('/v1/openapi.json');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return (await res.json()) as Doc;
}

/** Ajv over the document's schemas: `#/components/...` references resolve inside it. */
function schemaChecker(doc: Doc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  return (schema: object) => ajv.compile({ ...schema, components: doc.components });
}

describe('OpenAPI document', () => {
  it('is served without a token and is a valid OpenAPI 3.1 document', async () => {
    const doc = await fetchDocument();
    assert.equal(doc.openapi, '3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc);
    assert.deepEqual(result, { valid: true });
    assert.equal(validator.version, '3.1');
    // The validator does refuse a broken document: a response without a description, a parameter in no place.
    const broken = structuredClone(doc);
    broken.paths['/v1/usage']!.get!.responses['200'] = { content: {} };
    assert.equal((await new Validator().validate(broken as unknown as Record<string, unknown>)).valid, false);
    const misplaced = structuredClone(doc);
    misplaced.paths['/v1/usage']!.get!.parameters![0]!.in = 'body';
    assert.equal((await new Validator().validate(misplaced as unknown as Record<string, unknown>)).valid, false);
  });

  it('describes every /v1 route the app registers, with each method, and no route it does not', async () => {
    const doc = await fetchDocument();
    // Read from Hono's router: method `ALL` entries are middleware and the 405 answers of rejectOtherMethods.
    const registered = app()
      .routes.filter((r) => r.method !== 'ALL' && r.path.startsWith('/v1/'))
      .map((r) => `${r.method.toLowerCase()} ${toOpenApiPath(r.path)}`);
    assert.ok(registered.length >= 13, `only ${registered.length} routes registered`);
    assert.ok(registered.includes('post /v1/chat'), 'the chat endpoints are among them');
    const described = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method} ${path}`),
    );
    assert.deepEqual([...new Set(registered)].sort(), described.sort());
  });

  it('declares every path parameter, a body where the route reads one, and the error shape of every failure', async () => {
    const doc = await fetchDocument();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path');
        assert.deepEqual(declared.map((p) => p.name).sort(), names.sort(), `${method} ${path}: path parameters`);
        assert.ok(
          declared.every((p) => p.required === true),
          `${method} ${path}: path parameters are required`,
        );
        if (method === 'post' && !path.endsWith('/stop')) assert.ok(op.requestBody, `${method} ${path}: body`);
        for (const [status, response] of Object.entries(op.responses)) {
          if (Number(status) < 400) continue;
          assert.ok(JSON.stringify(response).includes('#/components/'), `${method} ${path} ${status}: error shape`);
        }
        if (path !== '/v1/openapi.json') assert.ok(op.responses['401'], `${method} ${path}: 401`);
      }
    }
    const events = doc.paths['/v1/turns/{turnId}/events']?.get;
    assert.deepEqual(Object.keys(events?.responses['200'] as object), ['description', 'content']);
    assert.ok(JSON.stringify(events?.responses['200']).includes('"text/event-stream"'));
    assert.ok(events?.parameters?.some((p) => p.in === 'header' && p.name === 'Last-Event-ID'));
    assert.deepEqual(doc.paths['/v1/openapi.json']?.get?.security, []);
  });

  it('renders each request body from the zod schema the route validates with: both accept and refuse alike', async () => {
    const doc = await fetchDocument();
    const compile = schemaChecker(doc);
    const samples: Record<string, { valid: unknown[]; invalid: unknown[] }> = {
      'post /v1/conversations/{id}/turns': {
        valid: [
          { requestId: 'r1', message: 'hi' },
          {
            requestId: 'r.2_x',
            message: 'hi',
            model: 'm',
            tools: ['calculate'],
            maxHops: 50,
            persistence: { persistDeltas: false },
            doubleTexting: 'steer',
            budget: { maxTokens: 10 },
          },
        ],
        invalid: [
          { requestId: 'r1' },
          { requestId: 'a/b', message: 'hi' },
          { requestId: 'r1', message: 'hi', tenantId: 'other' },
          { requestId: 'r1', message: 'hi', maxHops: 51 },
          { requestId: 'r1', message: 'hi', doubleTexting: 'later' },
          { requestId: 'r1', message: 'hi', persistence: { batch: true } },
          { requestId: 'r1', message: 'x'.repeat(100_001) },
        ],
      },
      'post /v1/turns/{turnId}/cancel': {
        valid: [{}, { reason: 'enough' }],
        invalid: [{ reason: '' }, { reason: 1 }, { why: 'x' }],
      },
      'post /v1/turns/{turnId}/approvals/{approvalId}': {
        valid: [{ approved: true }, { approved: false, reason: 'no' }],
        invalid: [{}, { approved: 'yes' }, { approved: true, by: 'me' }],
      },
      'post /v1/chat': {
        valid: [
          {
            id: 'c1',
            messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: 'hi' }] }],
            trigger: 'submit-message',
          },
        ],
        invalid: [
          { id: 'c1', messages: [], trigger: 'submit-message' },
          { id: 'c1', messages: [{ id: 'm1', role: 'user', parts: [] }], trigger: 'submit-message', tenantId: 't' },
          { id: 'c1', messages: [{ id: 'm1', role: 'robot', parts: [] }], trigger: 'submit-message' },
        ],
      },
    };
    const withBody = API_ROUTES.filter((r) => r.operation.requestBody);
    assert.deepEqual(withBody.map((r) => `${r.method} ${toOpenApiPath(r.path)}`).sort(), Object.keys(samples).sort());
    for (const route of withBody) {
      const key = `${route.method} ${toOpenApiPath(route.path)}`;
      const zod = route.operation.requestBody!.content['application/json']!.schema as {
        safeParse(v: unknown): { success: boolean };
      };
      const rendered = doc.paths[toOpenApiPath(route.path)]![route.method]!.requestBody!.content['application/json']!;
      const check = compile(rendered.schema);
      for (const sample of samples[key]!.valid) {
        assert.ok(zod.safeParse(sample).success, `${key}: zod accepts ${JSON.stringify(sample)}`);
        assert.ok(
          check(sample),
          `${key}: the document accepts ${JSON.stringify(sample)}: ${JSON.stringify(check.errors)}`,
        );
      }
      for (const sample of samples[key]!.invalid) {
        const shown = JSON.stringify(sample).slice(0, 120);
        assert.ok(!zod.safeParse(sample).success, `${key}: zod refuses ${shown}`);
        assert.ok(!check(sample), `${key}: the document refuses ${shown}`);
      }
    }
  });

  it('describes the error bodies the gateway really sends', async () => {
    const doc = await fetchDocument();
    const check = schemaChecker(doc)({ $ref: '#/components/schemas/Error' });
    const gateway = app();
    const answers = [
      await gateway.request('/v1/usage'),
      await gateway.request('/v1/usage', { headers: { authorization: 'Bearer wrong' } }),
      await gateway.request('/v1/usage?from=yesterday', { headers: { authorization: 'Bearer dev-token' } }),
      await gateway.request('/v1/openapi.json', { method: 'POST', headers: { authorization: 'Bearer dev-token' } }),
      await gateway.request('/v1/nothing-here', { headers: { authorization: 'Bearer dev-token' } }),
    ];
    assert.deepEqual(
      answers.map((r) => r.status),
      [401, 401, 400, 405, 404],
    );
    for (const res of answers) {
      const body: unknown = await res.json();
      assert.ok(check(body), `${res.status}: ${JSON.stringify(body)} ${JSON.stringify(check.errors)}`);
    }
  });
});
