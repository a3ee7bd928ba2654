import assert from 'node:assert/strict';
import { CalculationError, evaluate, MAX_EXPRESSION_LENGTH, MAX_NESTING_DEPTH } from '../../activities/tools';

/** Asserts `evaluate(expression)` throws a CalculationError at `position` whose message matches `pattern`. */
function assertFails(expression: string, position: number, pattern: RegExp): void {
  assert.throws(
    () => evaluate(expression),
    (err: unknown) => {
      assert.ok(err instanceof CalculationError, `expected CalculationError, got ${String(err)}`);
      assert.equal(err.position, position, err.message);
      assert.match(err.message, pattern);
      return true;
    },
  );
}

describe('arithmetic evaluator', () => {
  describe('precedence and associativity', () => {
    const cases: ReadonlyArray<readonly [string, number]> = [
      ['1 + 2 * 3', 7],
      ['(1 + 2) * 3', 9],
      ['10 - 4 - 3', 3],
      ['100 / 10 / 5', 2],
      ['2 * 3 % 4', 2],
      ['7 % 4 * 2', 6],
      ['2 + 3 ^ 2', 11],
      ['2 * 3 ^ 2', 18],
      ['2^3^2', 512],
      ['(2^3)^2', 64],
      ['2**10', 1024],
      ['2 ** 3 ** 2', 512],
      ['1 - 2 + 3', 2],
    ];
    for (const [expression, expected] of cases) {
      it(`evaluates ${expression} to ${expected}`, () => assert.equal(evaluate(expression), expected));
    }
  });

  describe('unary operators (they bind looser than ^, tighter than * and /)', () => {
    const cases: ReadonlyArray<readonly [string, number]> = [
      ['-2^2', -4],
      ['(-2)^2', 4],
      ['2^-2', 0.25],
      ['-2^-2', -0.25],
      ['2^-1^2', 0.5],
      ['2 * -3', -6],
      ['-3 * 2', -6],
      ['2 - -3', 5],
      ['--2', 2],
      ['+-+2', -2],
      ['-(1 + 2)', -3],
      ['2^-3*4', 0.5],
    ];
    for (const [expression, expected] of cases) {
      it(`evaluates ${expression} to ${expected}`, () => assert.equal(evaluate(expression), expected));
    }
  });

  describe('numbers, functions and constants', () => {
    const cases: ReadonlyArray<readonly [string, number]> = [
      ['1e3', 1000],
      ['1.5E-3', 0.0015],
      ['2e+2', 200],
      ['.5 + 12.', 12.5],
      ['0.1 + 0.2', 0.3],
      ['-7 % 3', -1],
      ['7 % -3', 1],
      ['7.5 % 2', 1.5],
      ['sqrt(16)', 4],
      ['sqrt(2)^2', 2],
      ['abs(-3.5)', 3.5],
      ['min(3, 1, 2)', 1],
      ['max(3, 1, 2)', 3],
      ['max(-1)', -1],
      ['round(2.5)', 3],
      ['round(-2.5)', -3],
      ['round(2.4999)', 2],
      ['round(3.14159, 2)', 3.14],
      ['floor(-1.5)', -2],
      ['ceil(-1.5)', -1],
      ['ln(e)', 1],
      ['ln(1)', 0],
      ['log10(1000)', 3],
      ['sin(0)', 0],
      ['sin(pi / 2)', 1],
      ['cos(pi)', -1],
      ['tan(0)', 0],
      ['-sin(0)', 0],
      ['2 * pi', 6.28318530717959],
      ['PI + Sqrt(4) - E', 2.42331082513075],
      ['max(1, min(5, 2^2), round(2.6))', 4],
      ['6 \u00d7 7', 42],
      ['8 \u00f7 2', 4],
      ['5 \u2212 3', 2],
      ['  ( 1 +\n2 )\t* 3 ', 9],
      ['2^53', 9007199254740992],
    ];
    for (const [expression, expected] of cases) {
      it(`evaluates ${JSON.stringify(expression)} to ${expected}`, () => assert.equal(evaluate(expression), expected));
    }

    it('returns 0, never -0', () => assert.ok(Object.is(evaluate('-0 * 5'), 0)));
  });

  describe('errors name the position', () => {
    it('formats the message with the position and a caret under it', () => {
      assert.throws(() => evaluate('1 / 0'), { message: 'At position 2: division by zero\n  1 / 0\n    ^' });
    });
    it('rejects a dangling operator', () => assertFails('2 +', 3, /unexpected end of expression/));
    it('rejects an unclosed parenthesis, naming where it opened', () =>
      assertFails('(1 + 2', 6, /expected '\)' to close the '\(' opened at position 0/));
    it('rejects an unmatched closing parenthesis', () => assertFails('1 + 2)', 5, /unexpected '\)'/));
    it('rejects a leading closing parenthesis', () => assertFails(')', 0, /unexpected '\)'/));
    it('rejects a binary operator with no left operand', () => assertFails('* 2', 0, /unexpected '\*'/));
    it('rejects implicit multiplication', () => {
      assertFails('2pi', 1, /write multiplication explicitly with '\*'/);
      assertFails('2 (3)', 2, /write multiplication explicitly/);
      assertFails('1.2.3', 3, /unexpected number \.3/);
    });
    it('rejects commas outside a function call', () => assertFails('1,000', 1, /unexpected ','/));
    it('rejects unknown characters', () => assertFails('1 $ 2', 2, /unexpected character '\$'/));
    it('rejects an empty expression', () => {
      assertFails('', 0, /empty/);
      assertFails('   ', 3, /empty/);
    });
    it('rejects division and remainder by zero at the operator', () => {
      assertFails('1 / 0', 2, /division by zero/);
      assertFails('5 % 0', 2, /division by zero/);
      assertFails('1 / (2 - 2)', 2, /division by zero/);
    });
    it('rejects results that are not real numbers', () => {
      assertFails('sqrt(-1)', 0, /sqrt\(-1\) is not a real number/);
      assertFails('ln(-1)', 0, /not a real number/);
      assertFails('(-8)^(1/3)', 4, /-8 \^ 0\.333\d* is not a real number/);
    });
    it('rejects results that are not finite', () => {
      assertFails('10^400', 2, /10 \^ 400 is not finite/);
      assertFails('1 + ln(0)', 4, /ln\(0\) is not finite/);
      assertFails('1e308 * 10', 6, /not finite/);
      assertFails('1e999', 0, /number 1e999 is too large/);
    });
    it('rejects unknown names and functions, listing the known ones', () => {
      assertFails('x + 1', 0, /unknown name 'x'\. Constants: pi, e; functions: sqrt, /);
      assertFails('foo(1)', 0, /unknown function 'foo'\. Known functions: sqrt, abs, /);
      assertFails('constructor', 0, /unknown name 'constructor'/);
      assertFails('__proto__(1)', 0, /unknown function '__proto__'/);
      assertFails('pi(2)', 0, /unknown function 'pi'/);
    });
    it('rejects a function used without parentheses', () =>
      assertFails('sqrt 4', 0, /must be called with parentheses/));
    it('rejects wrong argument counts', () => {
      assertFails('sqrt(1, 2)', 0, /sqrt takes 1 argument, got 2/);
      assertFails('min()', 0, /min takes at least 1 argument, got 0/);
      assertFails('round(1, 2, 3)', 0, /round takes 1 to 2 arguments, got 3/);
      assertFails('max(1,', 6, /unexpected end of expression/);
      assertFails('max(1 2)', 6, /expected ',' or '\)' to close the call to max opened at position 3/);
    });
    it('rejects a bad number of decimal places for round', () =>
      assertFails('round(1, 1.5)', 0, /whole number from 0 to 15, got 1\.5/));
  });

  describe('limits', () => {
    it(`rejects expressions longer than ${MAX_EXPRESSION_LENGTH} characters`, () => {
      const expression = `${'1+'.repeat(250)}1`;
      assert.equal(expression.length, 501);
      assertFails(expression, MAX_EXPRESSION_LENGTH, /expression is too long \(501 characters, at most 500\)/);
    });
    it(`accepts exactly ${MAX_EXPRESSION_LENGTH} characters`, () => {
      assert.equal(evaluate(`${'1+'.repeat(249)}10`), 259);
    });
    it(`accepts nesting up to ${MAX_NESTING_DEPTH} levels`, () => {
      const depth = MAX_NESTING_DEPTH - 1; // the whole expression is the first level
      assert.equal(evaluate(`${'('.repeat(depth)}1${')'.repeat(depth)}`), 1);
    });
    it(`rejects nesting deeper than ${MAX_NESTING_DEPTH} levels`, () => {
      assertFails(`${'('.repeat(MAX_NESTING_DEPTH)}1${')'.repeat(MAX_NESTING_DEPTH)}`, 64, /nested too deeply/);
      assertFails(`${'-'.repeat(100)}1`, 64, /nested too deeply/);
      assertFails(`${'2^'.repeat(100)}1`, 128, /nested too deeply/);
    });
  });
});
