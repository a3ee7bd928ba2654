/**
 * Replaces credential-like substrings with `***`: OpenAI-style keys (`sk-…`), bearer tokens and
 * `api_key=…` / `api-key: …` pairs. Applied to every message and detail that leaves the LLM
 * activity, because providers echo (partially masked) keys in 401 messages.
 */
export function redact(text: string): string {
  return text
    .replace(/\bsk-[A-Za-z0-9_*-]{6,}/g, 'sk-***')
    .replace(/\bBearer\s+[^\s"',]+/gi, 'Bearer ***')
    .replace(/\b(api[-_]?key["']?\s*[=:]\s*["']?)[^\s"',&]+/gi, '$1***');
}
