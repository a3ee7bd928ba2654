/** A function the calculator knows. */
export interface MathFunction {
  /** Fewest arguments accepted. */
  readonly minArgs: number;
  /** Most arguments accepted (`Infinity` for variadic). */
  readonly maxArgs: number;
  /** Why these arguments are not acceptable, if they are not (checked before `apply`). */
  readonly reject?: (args: readonly number[]) => string | undefined;
  /** Computes the result; a non-finite result is reported by the evaluator. */
  readonly apply: (args: readonly number[]) => number;
}

const unary = (fn: (x: number) => number): MathFunction => ({
  minArgs: 1,
  maxArgs: 1,
  apply: (args) => fn(args[0] ?? Number.NaN),
});

/**
 * Round half away from zero, to `digits` decimals (0–15). `toFixed` rounds the exact binary value,
 * so `round(1.005, 2)` is 1 (1.005 is stored as 1.00499…), like every IEEE-754 calculator.
 */
function round(args: readonly number[]): number {
  const [x = Number.NaN, digits = 0] = args;
  return Number(x.toFixed(digits));
}

/** Functions by (lower-case) name. Trigonometric functions take radians. */
export const FUNCTIONS: ReadonlyMap<string, MathFunction> = new Map<string, MathFunction>([
  ['sqrt', unary(Math.sqrt)],
  ['abs', unary(Math.abs)],
  ['floor', unary(Math.floor)],
  ['ceil', unary(Math.ceil)],
  ['ln', unary(Math.log)],
  ['log10', unary(Math.log10)],
  ['sin', unary(Math.sin)],
  ['cos', unary(Math.cos)],
  ['tan', unary(Math.tan)],
  ['min', { minArgs: 1, maxArgs: Number.POSITIVE_INFINITY, apply: (args) => Math.min(...args) }],
  ['max', { minArgs: 1, maxArgs: Number.POSITIVE_INFINITY, apply: (args) => Math.max(...args) }],
  [
    'round',
    {
      minArgs: 1,
      maxArgs: 2,
      reject: ([, digits]) =>
        digits === undefined || (Number.isInteger(digits) && digits >= 0 && digits <= 15)
          ? undefined
          : `round's second argument (decimal places) must be a whole number from 0 to 15, got ${digits}`,
      apply: round,
    },
  ],
]);

/** Named constants by (lower-case) name. */
export const CONSTANTS: ReadonlyMap<string, number> = new Map([
  ['pi', Math.PI],
  ['e', Math.E],
]);
