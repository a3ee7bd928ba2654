/**
 * Every chunk the bench's model sends names itself: ` K<turn key>.<index>`. A caller finds the chunks a received
 * event carries by reading its text, so matching a receipt to its send needs no shared state and still works when
 * a system coalesces or splits deltas. Pure (the workflow_streams package has its own copy of the pattern).
 */

/** A turn key: lower-case letters, digits and `-` (valid in every id the systems take). */
export const TURN_KEY = /^[a-z0-9-]{1,100}$/;

const TOKEN = /K([a-z0-9-]+)\.(\d+)/g;

/** The text of `chunks` chunks for turn `key`, one chunk per word. */
export function turnText(key: string, chunks: number): string {
  if (!TURN_KEY.test(key)) throw new Error(`bad turn key ${JSON.stringify(key)}`);
  return Array.from({ length: chunks }, (_, k) => ` K${key}.${k}`).join('');
}

/** The chunk tokens (`<key>.<index>`) in `text`, in order. */
export function tokensIn(text: string): string[] {
  return Array.from(text.matchAll(TOKEN), (m) => `${m[1]}.${m[2]}`);
}

/** The turn key of a bench message (`bench <key>`), or undefined. */
export function keyOfMessage(message: unknown): string | undefined {
  if (typeof message !== 'string') return undefined;
  const match = /^bench ([a-z0-9-]{1,100})$/.exec(message);
  return match?.[1];
}

/** The message that starts turn `key`. */
export function messageFor(key: string): string {
  if (!TURN_KEY.test(key)) throw new Error(`bad turn key ${JSON.stringify(key)}`);
  return `bench ${key}`;
}
