import { CalculationError } from '../../errors';

/** A binary or unary arithmetic operator (`**` is read as `^`). */
export type Operator = '+' | '-' | '*' | '/' | '%' | '^';

/** One lexical token; `pos` is its 0-based offset in the expression. */
export type Token =
  | { readonly kind: 'number'; readonly value: number; readonly text: string; readonly pos: number }
  | { readonly kind: 'name'; readonly name: string; readonly pos: number }
  | { readonly kind: 'operator'; readonly op: Operator; readonly text: string; readonly pos: number }
  | { readonly kind: '(' | ')' | ','; readonly pos: number }
  | { readonly kind: 'end'; readonly pos: number };

const NUMBER = /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y;
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
const WHITESPACE = /\s/;

/** Single-character operators, including the typographic ones models sometimes emit. */
const OPERATORS: Readonly<Record<string, Operator>> = {
  '+': '+',
  '-': '-',
  '\u2212': '-',
  '*': '*',
  '\u00d7': '*',
  '/': '/',
  '\u00f7': '/',
  '%': '%',
  '^': '^',
};

/**
 * Splits an arithmetic expression into tokens, ending with an `end` token. Names are lower-cased
 * (`PI`, `Sqrt` work).
 *
 * @throws {@link CalculationError} on a character that cannot start a token or a number literal
 * too large for a double.
 */
export function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  while (pos < expression.length) {
    const ch = expression.charAt(pos);
    if (WHITESPACE.test(ch)) {
      pos += 1;
      continue;
    }
    const number = matchAt(NUMBER, expression, pos);
    if (number !== undefined) {
      const value = Number(number);
      if (!Number.isFinite(value)) throw new CalculationError(`number ${number} is too large`, expression, pos);
      tokens.push({ kind: 'number', value, text: number, pos });
      pos += number.length;
      continue;
    }
    const name = matchAt(NAME, expression, pos);
    if (name !== undefined) {
      tokens.push({ kind: 'name', name: name.toLowerCase(), pos });
      pos += name.length;
      continue;
    }
    if (expression.startsWith('**', pos)) {
      tokens.push({ kind: 'operator', op: '^', text: '**', pos });
      pos += 2;
      continue;
    }
    const op = OPERATORS[ch];
    if (op !== undefined) {
      tokens.push({ kind: 'operator', op, text: ch, pos });
    } else if (ch === '(' || ch === ')' || ch === ',') {
      tokens.push({ kind: ch, pos });
    } else {
      const shown = String.fromCodePoint(expression.codePointAt(pos) ?? 0);
      throw new CalculationError(`unexpected character '${shown}'`, expression, pos);
    }
    pos += 1;
  }
  tokens.push({ kind: 'end', pos: expression.length });
  return tokens;
}

function matchAt(pattern: RegExp, text: string, pos: number): string | undefined {
  pattern.lastIndex = pos;
  return pattern.exec(text)?.[0];
}
