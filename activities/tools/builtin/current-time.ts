import { z } from 'zod';
import { defineTool } from '../define';

/** Whether `Intl` knows `timeZone` (IANA names like `Europe/Berlin`, plus `UTC`; case-insensitive). */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** Arguments of the `get_current_time` tool. */
export const CurrentTimeArgs = z.object({
  timezone: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .describe('IANA time zone, e.g. "Europe/Berlin", "America/New_York", "Asia/Kolkata" or "UTC"')
    .superRefine((timezone, ctx) => {
      if (!isKnownTimeZone(timezone)) {
        ctx.addIssue({
          code: 'custom',
          message: `Unknown time zone "${timezone}": use an IANA name such as "Europe/Berlin", "America/New_York" or "UTC"`,
        });
      }
    }),
});

/** A moment as seen in one time zone. */
export interface ZonedTime {
  /** The zone asked for, with `Intl`'s capitalisation (`utc` → `UTC`). */
  readonly timezone: string;
  /** ISO 8601 with the zone's offset, seconds precision: `2024-03-11T01:30:00+05:30`. */
  readonly iso: string;
  /** Wall-clock time: `YYYY-MM-DD HH:mm:ss` (24-hour). */
  readonly local: string;
  /** Offset from UTC: `+05:30`, `-04:00`, `+00:00`. */
  readonly utcOffset: string;
  /** English weekday name: `Monday`. */
  readonly weekday: string;
}

/**
 * Describes `instant` in `timeZone` (which must be known to `Intl`; see {@link isKnownTimeZone}).
 * The offset is derived from the wall-clock time, so it is right on both sides of DST changes.
 */
export function zonedTime(instant: Date, timeZone: string): ZonedTime {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    weekday: 'long',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  const parts = new Map(format.formatToParts(instant).map((part) => [part.type, part.value]));
  const field = (type: Intl.DateTimeFormatPartTypes): number => Number(parts.get(type));
  const [year, month, day, hour, minute, second] = [
    field('year'),
    field('month'),
    field('day'),
    field('hour'),
    field('minute'),
    field('second'),
  ];

  const wallClockAsUtc = new Date(0);
  wallClockAsUtc.setUTCFullYear(year, month - 1, day);
  wallClockAsUtc.setUTCHours(hour, minute, second, 0);
  const wholeSeconds = Math.floor(instant.getTime() / 1000) * 1000;
  const offsetMinutes = Math.round((wallClockAsUtc.getTime() - wholeSeconds) / 60_000);

  const date = `${pad(year, 4)}-${pad(month)}-${pad(day)}`;
  const time = `${pad(hour)}:${pad(minute)}:${pad(second)}`;
  const utcOffset = formatOffset(offsetMinutes);
  return {
    timezone: displayName(timeZone, format.resolvedOptions().timeZone),
    iso: `${date}T${time}${utcOffset}`,
    local: `${date} ${time}`,
    utcOffset,
    weekday: parts.get('weekday') ?? '',
  };
}

/**
 * The name to report: `Intl`'s spelling when it only fixes case (`utc` → `UTC`), else the name asked
 * for, since ICU reports some zones by legacy aliases (`Asia/Kolkata` → `Asia/Calcutta`).
 */
function displayName(requested: string, resolved: string): string {
  return requested.toLowerCase() === resolved.toLowerCase() ? resolved : requested;
}

function formatOffset(totalMinutes: number): string {
  const sign = totalMinutes < 0 ? '-' : '+';
  const minutes = Math.abs(totalMinutes);
  return `${sign}${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/** Options of {@link currentTimeTool}. */
export interface CurrentTimeOptions {
  /**
   * The clock (inject a fixed one in tests).
   * @default () => new Date()
   */
  readonly now?: () => Date;
}

/**
 * `get_current_time`: the current date and time in an IANA time zone. An unknown zone reaches the
 * model as an `invalid_arguments` message naming it.
 */
export function currentTimeTool(options: CurrentTimeOptions = {}) {
  const now = options.now ?? (() => new Date());
  return defineTool({
    name: 'get_current_time',
    description:
      'Get the current date, time, UTC offset and weekday in a time zone. Use it whenever the answer depends on ' +
      'today\'s date or the time of day. Pass an IANA time zone name (use "UTC" if the user\'s zone is unknown).',
    parameters: CurrentTimeArgs,
    timeoutMs: 1_000,
    retry: { maximumAttempts: 1 },
    // Pure computation: run inside the workflow task (a hop without a workflow task and a dispatch of its own).
    local: true,
    execute: ({ timezone }): Promise<ZonedTime> => Promise.resolve(zonedTime(now(), timezone)),
  });
}
