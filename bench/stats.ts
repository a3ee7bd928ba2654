/** Pure statistics of the bench: percentiles and the `{ p50, p99 }` summaries the results carry. */

/** `{ p50, p99 }` in milliseconds, rounded to 0.01. */
export interface Percentiles {
  p50: number;
  p99: number;
}

/**
 * The nearest-rank percentile of `values` (unsorted is fine): the smallest value with at least `p`% of the values
 * at or below it. NaN for no values.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  if (p < 0 || p > 100) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** p50 and p99 of `values`, rounded to hundredths. */
export function summarize(values: readonly number[]): Percentiles {
  return { p50: round(percentile(values, 50)), p99: round(percentile(values, 99)) };
}

/** Rounds to `digits` decimals (NaN stays NaN). */
export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** The median of `values` (nearest rank). */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}
