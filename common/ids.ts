/**
 * Ids and their format, without zod: workflows import this module (through `common/sandbox.ts`), and every module a
 * workflow imports is instantiated again for each workflow run, so it must be cheap to load. The zod schema of the
 * same format is `ExternalId` (`external-id.ts`).
 */

/** Longest id a caller may choose. */
export const EXTERNAL_ID_MAX_LENGTH = 128;
/** What an id a caller chooses may contain: letters, digits, `.`, `_` and `-` (no separator characters). */
export const EXTERNAL_ID_PATTERN = /^[A-Za-z0-9._-]+$/;

/** Whether `value` is an id a caller may choose (see `ExternalId`): a plain check, for code that runs without zod. */
export function isExternalId(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length >= 1 &&
    value.length <= EXTERNAL_ID_MAX_LENGTH &&
    EXTERNAL_ID_PATTERN.test(value)
  );
}

/**
 * The turn id, which is also the Temporal workflow id: `turn/<tenant>/<conversationId>/<requestId>`. Derived from
 * the tenant and the request only, so the same request can never start a second turn, and two tenants that pick
 * the same ids get two unrelated turns; `/` cannot occur in any part, so it is unambiguous.
 */
export function turnIdFor(tenantId: string, conversationId: string, requestId: string): string {
  return `turn/${tenantId}/${conversationId}/${requestId}`;
}

/** The parts of a turn id. */
export interface TurnIdParts {
  tenantId: string;
  conversationId: string;
  requestId: string;
}

/** The inverse of {@link turnIdFor}; `undefined` for a string that is not a turn id. */
export function parseTurnId(turnId: string): TurnIdParts | undefined {
  const parts = turnId.split('/');
  if (parts[0] !== 'turn' || parts.length !== 4) return undefined;
  const [tenantId, conversationId, requestId] = parts.slice(1) as [string, string, string];
  if (![tenantId, conversationId, requestId].every(isExternalId)) return undefined;
  return { tenantId, conversationId, requestId };
}

/**
 * The id of a conversation's ordering workflow (the one that runs its turns in order):
 * `conversation/<tenant>/<conversationId>`. The tenant is part of it, like every id it owns.
 */
export function conversationWorkflowIdFor(tenantId: string, conversationId: string): string {
  return `conversation/${tenantId}/${conversationId}`;
}
