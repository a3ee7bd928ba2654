/** The one task queue every turnflow worker polls and every client starts turns on. */
export const TASK_QUEUE = 'turnflow';

/**
 * Custom search attributes a turn sets so operators can find and filter runs in the Temporal UI.
 * The bootstrap registers them on the dev server; production clusters register them once
 * (`temporal operator search-attribute create`).
 */
export const SEARCH_ATTRIBUTES = {
  TenantId: 'KEYWORD',
  ConversationId: 'KEYWORD',
  TurnStatus: 'KEYWORD',
  TurnHops: 'INT',
  LlmModel: 'KEYWORD',
} as const;

export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;
