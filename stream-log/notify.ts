import { TurnEvent } from '../common';

/**
 * The NOTIFY format of the stream log: what a writer announces on the {@link EVENTS_CHANNEL} channel.
 *
 * A payload is one announcement or a JSON array of them (a writer sends the announcements it queued while the
 * previous one was on the wire together). An announcement is either the event itself, as JSON, or, for an event
 * whose JSON would not fit Postgres' 8000-byte payload limit, a bodiless doorbell
 * `{ turnId, cursor, prev, doorbell: true }` telling listeners of that turn to read the stored stream (the writer
 * stores such an event before it rings). A listener treats anything else naming a turn as a doorbell too.
 */

/** Postgres NOTIFY channel that carries every turn event to the processes listening for it. */
export const EVENTS_CHANNEL = 'turnflow_events';

/** Largest payload a writer sends: under Postgres' 8000-byte limit, with room for the channel name. */
export const MAX_NOTIFY_PAYLOAD = 7_800;

/** A bodiless announcement: something happened in the turn that is too big to carry; read the stored stream. */
export interface Doorbell {
  turnId: string;
  cursor: number;
  prev: number;
  doorbell: true;
}

/** How a writer announces `event`: its JSON, or a {@link Doorbell} when that is too big (store it first, then). */
export function encodeAnnouncement(event: TurnEvent): { payload: string; doorbell: boolean } {
  const payload = JSON.stringify(event);
  if (Buffer.byteLength(payload) <= MAX_NOTIFY_PAYLOAD) return { payload, doorbell: false };
  const bell: Doorbell = { turnId: event.turnId, cursor: event.cursor, prev: event.prev, doorbell: true };
  return { payload: JSON.stringify(bell), doorbell: true };
}

/**
 * A bodiless announcement that only asks the turn's listeners to read its stored stream again: sent when the turn's
 * rows were deleted (its conversation was), so a reader finds that out instead of waiting for ever.
 */
export function rereadAnnouncement(turnId: string): string {
  const bell: Doorbell = { turnId, cursor: 0, prev: 0, doorbell: true };
  return JSON.stringify(bell);
}

/**
 * Announces that a worker took a turn started directly (its first workflow task moved its row from `queued` to
 * `running`, in the transaction that sends this): what the start waits for before it answers (client/direct-start.ts).
 * It carries no event, so stream readers have nothing to read for it.
 */
export function startedAnnouncement(turnId: string): string {
  return JSON.stringify({ turnId, started: true });
}

/**
 * Packs announcements into as few NOTIFY payloads as fit under the size limit: one alone as itself, several as
 * a JSON array, in order.
 */
export function packPayloads(payloads: readonly string[]): string[] {
  const packed: string[] = [];
  let batch: string[] = [];
  let size = 2;
  const close = () => {
    if (batch.length === 1) packed.push(batch[0]!);
    else if (batch.length > 1) packed.push(`[${batch.join(',')}]`);
    batch = [];
    size = 2;
  };
  for (const payload of payloads) {
    const bytes = Buffer.byteLength(payload) + 1;
    if (batch.length > 0 && size + bytes > MAX_NOTIFY_PAYLOAD) close();
    batch.push(payload);
    size += bytes;
  }
  close();
  return packed;
}

/**
 * What a listener hears for one turn from one announcement: an event, a doorbell (`event` undefined), or that a worker
 * took the turn ({@link startedAnnouncement}: `started`).
 */
export type Announcement =
  { turnId: string; event: TurnEvent; started?: undefined } | { turnId: string; event: undefined; started?: true };

/**
 * The announcements of a NOTIFY payload, in order. An announcement that names a turn but is not a valid event (a
 * doorbell, or anything unreadable) comes back without an event: its turn's listeners must read the stored
 * stream; a {@link startedAnnouncement} comes back as `started`. A payload that is not JSON, or items that name no
 * turn, yield nothing.
 */
export function decodeNotification(payload: string | undefined): Announcement[] {
  if (!payload) return [];
  let body: unknown;
  try {
    body = JSON.parse(payload);
  } catch {
    return [];
  }
  const announcements: Announcement[] = [];
  for (const item of Array.isArray(body) ? (body as unknown[]) : [body]) {
    const turnId = (item as { turnId?: unknown } | null)?.turnId;
    if (typeof turnId !== 'string') continue;
    if ((item as { started?: unknown }).started === true) {
      announcements.push({ turnId, event: undefined, started: true });
      continue;
    }
    const parsed = TurnEvent.safeParse(item);
    announcements.push({ turnId, event: parsed.success ? parsed.data : undefined });
  }
  return announcements;
}
