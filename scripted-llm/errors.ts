/**
 * Thrown by `enqueue`, `parseScript` and the responder path when a script is invalid or names a
 * fixture that does not exist.
 */
export class ScriptError extends Error {
  override readonly name = 'ScriptError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The body OpenAI answers with on an HTTP error: `{ error: { message, type, param, code } }`. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

interface ErrorDefaults {
  message: string;
  type: string;
  code: string | null;
}

// Messages and types as OpenAI's API returns them, so client code sees familiar errors.
const DEFAULTS: Readonly<Record<number, ErrorDefaults>> = {
  400: { message: 'Invalid request.', type: 'invalid_request_error', code: null },
  401: {
    message: 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.',
    type: 'invalid_request_error',
    code: 'invalid_api_key',
  },
  403: {
    message: 'You are not allowed to access this resource.',
    type: 'invalid_request_error',
    code: 'unsupported_country_region_territory',
  },
  404: {
    message: 'The model does not exist or you do not have access to it.',
    type: 'invalid_request_error',
    code: 'model_not_found',
  },
  408: { message: 'Request timed out.', type: 'timeout', code: null },
  409: { message: 'Conflict.', type: 'invalid_request_error', code: null },
  422: { message: 'Unprocessable entity.', type: 'invalid_request_error', code: null },
  429: {
    message: 'Rate limit reached for requests. Please try again in 1s.',
    type: 'requests',
    code: 'rate_limit_exceeded',
  },
  500: {
    message: 'The server had an error while processing your request. Sorry about that!',
    type: 'server_error',
    code: null,
  },
  502: { message: 'Bad gateway.', type: 'server_error', code: null },
  503: { message: 'The engine is currently overloaded, please try again later.', type: 'server_error', code: null },
};

/** Builds an OpenAI-shaped error body for `status`, with optional overrides. */
export function openAiErrorBody(
  status: number,
  overrides: { message?: string | undefined; type?: string | undefined; code?: string | null | undefined } = {},
): OpenAiErrorBody {
  const fallback = DEFAULTS[status] ?? {
    message: `HTTP ${status}.`,
    type: status >= 500 ? 'server_error' : 'invalid_request_error',
    code: null,
  };
  return {
    error: {
      message: overrides.message ?? fallback.message,
      type: overrides.type ?? fallback.type,
      param: null,
      code: overrides.code === undefined ? fallback.code : overrides.code,
    },
  };
}
