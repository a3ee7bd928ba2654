export { createOpenApiDocument, toOpenApiPath } from './document';
export { openApiRoutes, OPENAPI_PATH } from './route';
export { API_ROUTES, type ApiRoute } from './routes';
