import { SearchAttributeType, defineSearchAttributeKey, type SearchAttributePair } from '@temporalio/common';

/**
 * The custom search attributes a turn sets so operators can find and filter runs in the Temporal UI: the one
 * definition of their names and types. The bootstrap registers them on the dev server (dev/search-attributes.ts),
 * docker-compose.yml lists them for its cluster (a test checks it against these), production clusters register them
 * once (`temporal operator search-attribute create`, see the README).
 */
export const searchAttributeKeys = {
  TenantId: defineSearchAttributeKey('TenantId', SearchAttributeType.KEYWORD),
  ConversationId: defineSearchAttributeKey('ConversationId', SearchAttributeType.KEYWORD),
  TurnStatus: defineSearchAttributeKey('TurnStatus', SearchAttributeType.KEYWORD),
  TurnHops: defineSearchAttributeKey('TurnHops', SearchAttributeType.INT),
  LlmModel: defineSearchAttributeKey('LlmModel', SearchAttributeType.KEYWORD),
} as const;

export type SearchAttributeName = keyof typeof searchAttributeKeys;

/** The same attributes as name → type, for registering them. */
export const SEARCH_ATTRIBUTES = Object.fromEntries(
  Object.values(searchAttributeKeys).map(({ name, type }) => [name, type]),
) as Readonly<Record<SearchAttributeName, SearchAttributeType>>;

/**
 * The attributes a turn's workflow starts with: its tenant and conversation, `running` at hop 0, and its model when
 * the request names one. They come with the start itself, so a turn makes one upsert of its own, at its end (status,
 * hops and the model it ran on); the hop it is in shows in its current details meanwhile.
 */
export function turnStartAttributes(turn: {
  tenantId: string;
  conversationId: string;
  model?: string | undefined;
}): SearchAttributePair[] {
  return [
    { key: searchAttributeKeys.TenantId, value: turn.tenantId },
    { key: searchAttributeKeys.ConversationId, value: turn.conversationId },
    { key: searchAttributeKeys.TurnStatus, value: 'running' },
    { key: searchAttributeKeys.TurnHops, value: 0 },
    ...(turn.model === undefined ? [] : [{ key: searchAttributeKeys.LlmModel, value: turn.model }]),
  ];
}
