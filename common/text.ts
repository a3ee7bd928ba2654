/**
 * Text Postgres can store unchanged. `text` and `jsonb` reject U+0000, `jsonb` rejects lone surrogates, and a lone
 * surrogate sent as `text` is silently stored as U+FFFD. Text from outside that is not the caller's (model output,
 * tool output) is made storable with {@link storableText} before it is shown or stored, so what a caller sees is
 * what is stored; caller input with such characters is refused instead.
 */

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
// eslint-disable-next-line no-control-regex -- U+0000 is exactly what must be found
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The character that takes the place of each unstorable one. */
export const REPLACEMENT_CHARACTER = '\uFFFD';

/** Whether `text` holds a surrogate that is not half of a pair. */
export function hasLoneSurrogate(text: string): boolean {
  LONE_SURROGATE.lastIndex = 0;
  return LONE_SURROGATE.test(text);
}

/** `text` with each U+0000 and each lone surrogate replaced by U+FFFD (the same length, the same everywhere else). */
export function storableText(text: string): string {
  return text.replace(UNSTORABLE, REPLACEMENT_CHARACTER);
}

/**
 * {@link storableText} for text that arrives in pieces (streamed deltas): a high surrogate at the end of a piece is
 * held back until the next piece shows whether it starts a pair, so the pieces' concatenation comes out exactly as
 * `storableText` of the whole.
 */
export class StorableTextStream {
  private held = '';

  /** The storable text of `piece` that can be released now. */
  push(piece: string): string {
    const text = this.held + piece;
    const last = text.charCodeAt(text.length - 1);
    const holdLast = last >= 0xd800 && last <= 0xdbff;
    this.held = holdLast ? text.slice(-1) : '';
    return storableText(holdLast ? text.slice(0, -1) : text);
  }

  /** What is still held back (a high surrogate the stream ended with, replaced). */
  end(): string {
    const rest = storableText(this.held);
    this.held = '';
    return rest;
  }
}
