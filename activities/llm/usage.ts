import type { TokenCounts } from '../../common';

/**
 * The token counts of a provider's `usage` object, or `null` when it reported none (no object, or one without
 * token counts). OpenAI's shape (`prompt_tokens_details.cached_tokens`, `completion_tokens_details.reasoning_tokens`)
 * and DeepSeek's `prompt_cache_hit_tokens`; anything else counts 0.
 */
export function tokenCounts(usage: Record<string, unknown> | null): TokenCounts | null {
  if (!usage) return null;
  const input = count(usage['prompt_tokens']);
  const output = count(usage['completion_tokens']);
  if (input === undefined && output === undefined) return null;
  const cached =
    count(record(usage['prompt_tokens_details'])?.['cached_tokens']) ?? count(usage['prompt_cache_hit_tokens']) ?? 0;
  const reasoning = count(record(usage['completion_tokens_details'])?.['reasoning_tokens']) ?? 0;
  return {
    inputTokens: input ?? 0,
    outputTokens: output ?? 0,
    cachedInputTokens: Math.min(cached, input ?? 0),
    reasoningTokens: Math.min(reasoning, output ?? 0),
  };
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.trunc(value) : undefined;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
