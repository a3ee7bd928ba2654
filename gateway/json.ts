/**
 * Strict reading of JSON request bodies: RFC 8259 text (UTF-8, no duplicate member names) whose strings are
 * well-formed Unicode that Postgres can store. `JSON.parse` alone decodes invalid UTF-8 and lone `\ud800` escapes
 * to U+FFFD or unpaired surrogates and keeps the last of duplicate keys; a caller would get a 200 for text that is
 * not what they sent. Nesting is limited to {@link MAX_JSON_DEPTH} levels, measured before anything walks the value:
 * the checks here, zod and `JSON.stringify` recurse, and 10,000 levels (20 KB) would overflow the stack.
 */

import { describeTooDeep, jsonDepth, MAX_JSON_DEPTH } from '../common';

/** Why a body is not acceptable JSON; `path` names the member (`message`, `persistence.minChars`, `tools[1]`). */
export type JsonProblem =
  | { kind: 'invalid_utf8' }
  | { kind: 'syntax'; detail: string }
  | { kind: 'too_deep'; limit: number }
  | { kind: 'duplicate_key'; key: string; path: string }
  | { kind: 'lone_surrogate'; path: string }
  | { kind: 'nul'; path: string };

/** The parsed value, or what is wrong with the body. */
export type StrictJson = { ok: true; value: unknown } | { ok: false; problem: JsonProblem };

const decoder = new TextDecoder('utf-8', { fatal: true });
/** An unpaired high or low surrogate (what `String.prototype.isWellFormed` rejects; ES2024 is not in our lib). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Decodes `bytes` as UTF-8 (strictly; a leading BOM is dropped) and parses it as strict JSON. */
export function parseStrictJson(bytes: Uint8Array): StrictJson {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return { ok: false, problem: { kind: 'invalid_utf8' } };
  }
  return parseStrictJsonText(text);
}

/** Parses `text` as strict JSON (see {@link parseStrictJson}). */
export function parseStrictJsonText(text: string): StrictJson {
  // Before any walk (JSON.parse itself is iterative; everything after it is not).
  if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    return { ok: false, problem: { kind: 'too_deep', limit: MAX_JSON_DEPTH } };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err: unknown) {
    return { ok: false, problem: { kind: 'syntax', detail: err instanceof Error ? err.message : String(err) } };
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate) return { ok: false, problem: { kind: 'duplicate_key', ...duplicate } };
  const bad = badString(value, '');
  if (bad) return { ok: false, problem: bad };
  return { ok: true, value };
}

interface Frame {
  /** Member names seen so far; `undefined` for an array. */
  keys: Set<string> | undefined;
  path: string;
  /** The last member name (object) or element index (array), naming a nested value. */
  last: string | number;
}

/**
 * The first member name repeated within one object of `text`, which must be valid JSON. Names are compared
 * after unescaping (`"a"` and `"\u0061"` are the same name).
 */
export function findDuplicateKey(text: string): { key: string; path: string } | undefined {
  const stack: Frame[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      const end = stringEnd(text, i);
      const top = stack.at(-1);
      if (top?.keys && expectKey) {
        const key = JSON.parse(text.slice(i, end)) as string;
        if (top.keys.has(key)) return { key, path: top.path };
        top.keys.add(key);
        top.last = key;
        expectKey = false;
      }
      i = end - 1;
    } else if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      const parent = stack.at(-1);
      const path = parent ? childPath(parent) : '';
      stack.push({ keys: ch === 0x7b ? new Set() : undefined, path, last: 0 });
      expectKey = ch === 0x7b;
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (ch === 0x2c /* , */) {
      const top = stack.at(-1);
      if (top && !top.keys) top.last = (top.last as number) + 1;
      expectKey = top?.keys !== undefined;
    }
  }
  return undefined;
}

/** Index just past the closing quote of the JSON string that opens at `start`. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x5c /* \ */) i++;
    else if (ch === 0x22) return i + 1;
  }
  return text.length;
}

function childPath(parent: Frame): string {
  if (!parent.keys) return `${parent.path}[${parent.last}]`;
  return parent.path === '' ? String(parent.last) : `${parent.path}.${String(parent.last)}`;
}

/** The first string (member name or value) that is not well-formed Unicode or holds U+0000. */
function badString(value: unknown, path: string): JsonProblem | undefined {
  if (typeof value === 'string') return stringProblem(value, path);
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const bad = badString(item, `${path}[${i}]`);
      if (bad) return bad;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const at = path === '' ? key : `${path}.${key}`;
      const bad = stringProblem(key, at) ?? badString(item, at);
      if (bad) return bad;
    }
  }
  return undefined;
}

function stringProblem(s: string, path: string): JsonProblem | undefined {
  if (LONE_SURROGATE.test(s)) return { kind: 'lone_surrogate', path };
  if (s.includes('\u0000')) return { kind: 'nul', path };
  return undefined;
}

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20) return true;
  return false;
}

/** A caller-facing sentence for `problem`. */
export function describeJsonProblem(problem: JsonProblem): string {
  // A member name may itself hold control characters: quote such a path rather than print them.
  const where = (path: string) => (path === '' ? 'the body' : hasControl(path) ? JSON.stringify(path) : path);
  switch (problem.kind) {
    case 'invalid_utf8':
      return 'the request body is not valid UTF-8';
    case 'syntax':
      return `the request body is not valid JSON: ${problem.detail}`;
    case 'too_deep':
      return describeTooDeep('the request body', problem.limit);
    case 'duplicate_key':
      return `the request body is not valid JSON: key "${problem.key}" appears twice in ${where(problem.path)}`;
    case 'lone_surrogate':
      return `${where(problem.path)} contains a lone UTF-16 surrogate (e.g. an unpaired \\ud800 escape); send well-formed Unicode`;
    case 'nul':
      return `${where(problem.path)} contains U+0000 (NUL), which cannot be stored`;
  }
}
