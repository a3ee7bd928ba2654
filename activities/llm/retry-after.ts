/** `retry-after-ms` (milliseconds), else `retry-after` (seconds or an HTTP date); positive only. */
export function retryAfterMs(headers: Headers | undefined, now: () => number = Date.now): number | undefined {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms > 0) return Math.ceil(ms);
  const raw = headers?.get('retry-after')?.trim();
  if (raw === undefined || raw === '') return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds)) return seconds > 0 ? Math.ceil(seconds * 1000) : undefined;
  const at = Date.parse(raw);
  if (Number.isNaN(at)) return undefined;
  const delay = at - now();
  return delay > 0 ? delay : undefined;
}
