import { z } from 'zod';

/** Ids a caller chooses (conversation, request): short, URL- and log-safe, no separator characters. */
export const ExternalId = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^[A-Za-z0-9._-]+$/, 'may contain only letters, digits, ".", "_" and "-"');

/**
 * The turn id, which is also the Temporal workflow id. Derived from (conversationId, requestId) only, so
 * the same request can never start a second turn; `/` cannot occur in either part, so it is unambiguous.
 */
export function turnIdFor(conversationId: string, requestId: string): string {
  return `turn/${conversationId}/${requestId}`;
}

/** The inverse of {@link turnIdFor}; `undefined` for a string that is not a turn id. */
export function parseTurnId(turnId: string): { conversationId: string; requestId: string } | undefined {
  const parts = turnId.split('/');
  if (parts.length !== 3 || parts[0] !== 'turn') return undefined;
  const [, conversationId, requestId] = parts as [string, string, string];
  if (!ExternalId.safeParse(conversationId).success || !ExternalId.safeParse(requestId).success) return undefined;
  return { conversationId, requestId };
}
