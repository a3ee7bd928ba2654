import { CalculationError } from '../../errors';
import { CONSTANTS, FUNCTIONS } from './functions';
import { tokenize, type Operator, type Token } from './tokenize';

/** Longest expression the evaluator accepts, in characters. */
export const MAX_EXPRESSION_LENGTH = 500;
/** Deepest nesting of parentheses, function calls, unary operators and `^` chains. */
export const MAX_NESTING_DEPTH = 64;

/**
 * Binding powers (left, right) of the binary operators. Left-associative operators bind tighter
 * on the right; `^` is right-associative, so `2^3^2` is `2^(3^2)`.
 */
const INFIX: Readonly<Record<Operator, readonly [number, number]>> = {
  '+': [10, 11],
  '-': [10, 11],
  '*': [20, 21],
  '/': [20, 21],
  '%': [20, 21],
  '^': [41, 40],
};
/**
 * Unary `-`/`+` bind looser than `^` and tighter than `*`: `-2^2` is `-(2^2)` = -4 (the
 * mathematical convention, as in Python), while `2^-2` and `2*-3` work as written.
 */
const PREFIX_POWER = 30;

/**
 * Evaluates an arithmetic expression with a Pratt parser (no `eval`): numbers (`12`, `1.5`, `.5`,
 * `1e3`), `+ - * / % ^` (`**` also means `^`), unary minus and plus, parentheses, the functions
 * `sqrt abs min max round floor ceil ln log10 sin cos tan` (radians) and the constants `pi` and `e`.
 * `%` is the remainder with the sign of the dividend (`-7 % 3` = -1). Names are case-insensitive.
 * A non-integer result is rounded to 15 significant digits to hide binary floating-point noise
 * (`0.1 + 0.2` = 0.3); -0 becomes 0.
 *
 * @throws {@link CalculationError} (with the 0-based position) for syntax errors, unknown names,
 * wrong argument counts, division by zero, results that are not finite real numbers, expressions
 * longer than {@link MAX_EXPRESSION_LENGTH} or nested deeper than {@link MAX_NESTING_DEPTH}.
 */
export function evaluate(expression: string): number {
  if (expression.length > MAX_EXPRESSION_LENGTH) {
    throw new CalculationError(
      `expression is too long (${expression.length} characters, at most ${MAX_EXPRESSION_LENGTH})`,
      expression,
      MAX_EXPRESSION_LENGTH,
    );
  }
  return tidy(new Parser(expression).parse());
}

function tidy(value: number): number {
  if (Object.is(value, -0)) return 0;
  return Number.isInteger(value) ? value : Number(value.toPrecision(15));
}

class Parser {
  private readonly tokens: Token[];
  private index = 0;
  private depth = 0;

  constructor(private readonly expression: string) {
    this.tokens = tokenize(expression);
  }

  parse(): number {
    if (this.peek().kind === 'end') throw this.error('the expression is empty', this.peek());
    const value = this.expression_(0);
    const next = this.peek();
    if (next.kind !== 'end') throw this.unexpected(next, 'expected an operator or the end of the expression');
    return value;
  }

  /** Parses operators binding at least as tightly as `minPower`. */
  private expression_(minPower: number): number {
    const at = this.peek();
    this.depth += 1;
    if (this.depth > MAX_NESTING_DEPTH) {
      throw this.error(`the expression is nested too deeply (more than ${MAX_NESTING_DEPTH} levels)`, at);
    }
    let left = this.prefix();
    for (;;) {
      const token = this.peek();
      if (token.kind !== 'operator') break;
      const [leftPower, rightPower] = INFIX[token.op];
      if (leftPower < minPower) break;
      this.index += 1;
      const right = this.expression_(rightPower);
      left = this.binary(token, left, right);
    }
    this.depth -= 1;
    return left;
  }

  private prefix(): number {
    const token = this.next();
    switch (token.kind) {
      case 'number':
        return token.value;
      case 'operator':
        if (token.op === '-') return -this.expression_(PREFIX_POWER);
        if (token.op === '+') return this.expression_(PREFIX_POWER);
        throw this.unexpected(token, 'expected a number, a name or (');
      case '(': {
        const value = this.expression_(0);
        this.expect(')', `expected ')' to close the '(' opened at position ${token.pos}`);
        return value;
      }
      case 'name':
        return this.peek().kind === '(' ? this.call(token.name, token.pos) : this.constant(token.name, token.pos);
      case ')':
      case ',':
      case 'end':
        throw this.unexpected(token, 'expected a number, a name or (');
    }
  }

  private call(name: string, pos: number): number {
    const fn = FUNCTIONS.get(name);
    if (fn === undefined) {
      throw this.error(`unknown function '${name}'. Known functions: ${[...FUNCTIONS.keys()].join(', ')}`, pos);
    }
    const open = this.next();
    const args: number[] = [];
    if (this.peek().kind !== ')') {
      do args.push(this.expression_(0));
      while (this.accept(','));
    }
    this.expect(')', `expected ',' or ')' to close the call to ${name} opened at position ${open.pos}`);
    if (args.length < fn.minArgs || args.length > fn.maxArgs) {
      throw this.error(`${name} takes ${arity(fn.minArgs, fn.maxArgs)}, got ${args.length}`, pos);
    }
    const rejected = fn.reject?.(args);
    if (rejected !== undefined) throw this.error(rejected, pos);
    return this.finite(fn.apply(args), `${name}(${args.map(String).join(', ')})`, pos);
  }

  private constant(name: string, pos: number): number {
    const value = CONSTANTS.get(name);
    if (value !== undefined) return value;
    if (FUNCTIONS.has(name))
      throw this.error(`function '${name}' must be called with parentheses, e.g. ${name}(x)`, pos);
    throw this.error(
      `unknown name '${name}'. Constants: ${[...CONSTANTS.keys()].join(', ')}; functions: ${[...FUNCTIONS.keys()].join(', ')}`,
      pos,
    );
  }

  private binary(token: Extract<Token, { kind: 'operator' }>, left: number, right: number): number {
    const { op, pos } = token;
    if ((op === '/' || op === '%') && right === 0) throw this.error('division by zero', pos);
    const result = apply(op, left, right);
    return this.finite(result, `${String(left)} ${token.text} ${String(right)}`, pos);
  }

  private finite(value: number, what: string, pos: number): number {
    if (Number.isNaN(value)) throw this.error(`${what} is not a real number`, pos);
    if (!Number.isFinite(value)) throw this.error(`${what} is not finite (out of range)`, pos);
    return value;
  }

  private peek(): Token {
    // The token list always ends with 'end', and the parser never moves past it.
    return this.tokens[this.index] ?? { kind: 'end', pos: this.expression.length };
  }

  private next(): Token {
    const token = this.peek();
    if (token.kind !== 'end') this.index += 1;
    return token;
  }

  private accept(kind: Token['kind']): boolean {
    if (this.peek().kind !== kind) return false;
    this.index += 1;
    return true;
  }

  private expect(kind: ')', hint: string): void {
    const token = this.peek();
    if (!this.accept(kind)) throw this.unexpected(token, hint);
  }

  private unexpected(token: Token, hint: string): CalculationError {
    const what =
      token.kind === 'end'
        ? 'end of expression'
        : token.kind === 'number'
          ? `number ${token.text}`
          : token.kind === 'name'
            ? `name '${token.name}'`
            : token.kind === 'operator'
              ? `'${token.text}'`
              : `'${token.kind}'`;
    const implicit =
      (token.kind === 'number' || token.kind === 'name' || token.kind === '(') &&
      hint.startsWith('expected an operator')
        ? " (write multiplication explicitly with '*')"
        : '';
    return this.error(`unexpected ${what}; ${hint}${implicit}`, token);
  }

  private error(problem: string, at: Token | number): CalculationError {
    return new CalculationError(problem, this.expression, typeof at === 'number' ? at : at.pos);
  }
}

function apply(op: Operator, left: number, right: number): number {
  switch (op) {
    case '+':
      return left + right;
    case '-':
      return left - right;
    case '*':
      return left * right;
    case '/':
      return left / right;
    case '%':
      return left % right;
    case '^':
      return left ** right;
  }
}

function arity(min: number, max: number): string {
  if (min === max) return `${min} argument${min === 1 ? '' : 's'}`;
  if (max === Number.POSITIVE_INFINITY) return `at least ${min} argument${min === 1 ? '' : 's'}`;
  return `${min} to ${max} arguments`;
}
