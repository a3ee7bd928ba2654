import { createDocument, type oas31, type ZodOpenApiPathsObject } from 'zod-openapi';
import { API_ROUTES, type ApiRoute } from './routes';

/** A Hono path (`/v1/turns/:turnId/events`) as OpenAPI writes it (`/v1/turns/{turnId}/events`). */
export function toOpenApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/**
 * The gateway's OpenAPI 3.1 document, built from `routes` ({@link API_ROUTES}): every parameter and body schema is the
 * zod schema the route validates with, rendered as its input; responses are rendered as outputs.
 */
export function createOpenApiDocument(routes: readonly ApiRoute[] = API_ROUTES): oas31.OpenAPIObject {
  const paths: ZodOpenApiPathsObject = {};
  for (const route of routes) {
    const item = (paths[toOpenApiPath(route.path)] ??= {});
    if (item[route.method]) throw new Error(`the route ${route.method.toUpperCase()} ${route.path} is listed twice`);
    item[route.method] = route.operation;
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'turnflow gateway',
      version: 'v1',
      description:
        'Durable LLM chat turns over HTTP and Server-Sent Events. Every `/v1` route needs a bearer token (a static ' +
        "API token or a JWT from the deployment's identity provider); errors are `{ error: { type, message } }`.",
    },
    security: [{ bearer: [] }],
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'A token listed (as its SHA-256) in `TURNFLOW_API_TOKENS`, or a JWT signed by a key of ' +
            '`GATEWAY_JWT_JWKS_URL` whose tenant claim names the tenant.',
        },
      },
    },
    tags: [
      { name: 'turns', description: 'Start, follow and stop turns.' },
      { name: 'conversations', description: 'What a conversation holds.' },
      { name: 'approvals', description: 'Tool calls waiting for a person.' },
      { name: 'chat', description: "The AI SDK's chat endpoints (`useChat`)." },
      { name: 'usage', description: 'Tokens and counts per tenant.' },
      { name: 'meta', description: 'This document.' },
    ],
    paths,
  });
}
