import { z } from 'zod';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * An environment duration: `90s`, `30m`, `24h`, `2d`, `250ms` or bare milliseconds, parsed to milliseconds and
 * bounded to [`minMs`, `maxMs`].
 */
export function EnvDuration(minMs: number, maxMs: number) {
  return z
    .string()
    .regex(/^\d{1,12}(ms|s|m|h|d)?$/, 'must be a duration like 90s, 30m, 24h, 2d (or milliseconds)')
    .transform((text) => {
      const match = /^(\d+)(ms|s|m|h|d)?$/.exec(text)!;
      return Number(match[1]) * UNIT_MS[(match[2] ?? 'ms') as keyof typeof UNIT_MS];
    })
    .pipe(
      z
        .number()
        .int()
        .min(minMs, `must be at least ${describe(minMs)}`)
        .max(maxMs, `must be at most ${describe(maxMs)}`),
    );
}

function describe(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
