/**
 * How deep JSON from outside may nest. `JSON.parse` reads any depth, but everything that walks the value afterwards
 * recurses (strict checks, zod schemas such as `z.json()` or `z.lazy`, `JSON.stringify`, `structuredClone`, the AI
 * SDK's chunk writer): about 10,000 levels, 20 KB of `[`, overflow Node's stack. So text from a caller, a model or a
 * provider is measured here first, in one pass without recursion, and refused past the limit.
 */

/**
 * Deepest nesting of arrays and objects accepted in JSON from outside: request bodies, tool arguments a model sends,
 * provider chunks. A turn request nests 2 levels, a chat request 5, a provider chunk 6; tool parameters rarely pass
 * 10. RFC 8259 §9 lets a parser limit depth.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * How deep `text` nests arrays and objects (`1` for `[]`, `0` for a scalar), counting brackets outside strings
 * without recursion; it stops at the first level past `limit` and returns that level, so its cost is bounded by
 * the text's length whatever it holds. Meaningful for text that is JSON; for other text it counts brackets.
 */
export function jsonDepth(text: string, limit: number = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      // Skip the string: brackets inside it are text.
      for (i++; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c === 0x5c /* \ */) i++;
        else if (c === 0x22) break;
      }
    } else if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      depth--;
    }
  }
  return deepest;
}

/** Whether `text` nests arrays and objects deeper than `limit` (default {@link MAX_JSON_DEPTH}). */
export function isTooDeep(text: string, limit: number = MAX_JSON_DEPTH): boolean {
  return jsonDepth(text, limit) > limit;
}

/** A sentence naming the problem of JSON nested past `limit`, for whoever sent it (`what`: "the request body"). */
export function describeTooDeep(what: string, limit: number = MAX_JSON_DEPTH): string {
  return `${what} nests arrays and objects more than ${limit} levels deep; at most ${limit} are accepted`;
}
