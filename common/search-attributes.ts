import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';

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
