import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';

/** Typed keys of the turn's search attributes (names and types as in {@link SEARCH_ATTRIBUTES}). */
export const searchAttributeKeys = {
  TenantId: defineSearchAttributeKey('TenantId', SearchAttributeType.KEYWORD),
  ConversationId: defineSearchAttributeKey('ConversationId', SearchAttributeType.KEYWORD),
  TurnStatus: defineSearchAttributeKey('TurnStatus', SearchAttributeType.KEYWORD),
  TurnHops: defineSearchAttributeKey('TurnHops', SearchAttributeType.INT),
  LlmModel: defineSearchAttributeKey('LlmModel', SearchAttributeType.KEYWORD),
} as const;
