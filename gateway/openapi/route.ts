import { Hono } from 'hono';
import { createOpenApiDocument } from './document';

/** Where the gateway serves its OpenAPI document. */
export const OPENAPI_PATH = '/v1/openapi.json';

/**
 * `GET /v1/openapi.json`: the OpenAPI 3.1 document of the gateway's API, built once on first request. Unauthenticated:
 * it describes the API and holds nothing of any tenant's.
 */
export function openApiRoutes(): Hono {
  const app = new Hono();
  let document: string | undefined;
  app.get(OPENAPI_PATH, (c) => {
    document ??= JSON.stringify(createOpenApiDocument());
    return c.body(document, 200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-cache' });
  });
  return app;
}
