/**
 * What a caller is told when a turn fails: the failure's stable `errorType` and a fixed message for it. The
 * failure's own message can hold internals (Postgres error texts, provider responses, the worker's configuration),
 * so it goes to the worker's log, the turn row and the Temporal failure, never to a caller.
 */
const PUBLIC_MESSAGES: Readonly<Record<string, string>> = {
  'turn.unknown_model': 'the model this turn asked for is not available',
  'turn.unknown_tools': 'a tool this turn asked for is not available',
  'turn.invalid_input': 'the turn request is invalid',
  'turn.already_failed': 'this turn already failed',
  'turn.cancelled_while_queued': 'the turn was cancelled before it started',
  'storage.invalid_data': 'the turn could not be stored',
  'storage.unavailable': 'the turn could not be stored',
  'storage.failed': 'the turn could not be stored',
  'llm.rate_limited': 'the model provider is rate limiting requests',
  'llm.unauthorized': "the model provider refused the worker's credentials",
  'llm.forbidden': 'the model provider refused the request',
  'llm.not_found': 'the model provider does not know the model',
  'llm.bad_request': 'the model provider rejected the request',
  'llm.unprocessable': 'the model provider rejected the request',
  'llm.client_error': 'the model provider rejected the request',
  'llm.timeout': 'the model provider timed out',
  'llm.conflict': 'the model provider could not answer',
  'llm.server_error': 'the model provider failed',
  'llm.network': 'the model provider could not be reached',
  'llm.malformed_stream': 'the model provider sent a malformed stream',
  'llm.stream_error': 'the model provider failed while streaming',
  'llm.stalled': 'the model provider stopped sending',
  'llm.truncated': 'the model provider cut the answer short',
};

/** The message a caller is shown for a failure of type `errorType` (a generic one for types not listed). */
export function publicFailureMessage(errorType: string): string {
  return PUBLIC_MESSAGES[errorType] ?? 'the turn failed';
}
