import { z } from 'zod';
import { defineTool } from '../define';
import { evaluate, MAX_EXPRESSION_LENGTH } from './arithmetic/evaluate';

/** Arguments of the `calculate` tool. */
export const CalculateArgs = z.object({
  expression: z
    .string()
    .trim()
    .min(1)
    .max(MAX_EXPRESSION_LENGTH)
    .describe('Arithmetic expression, e.g. "(1.5e3 - 200) * 0.19" or "sqrt(2) * max(3, 4)^2"'),
});

/** Result of the `calculate` tool. */
export interface CalculateResult {
  /** The expression as evaluated (trimmed). */
  readonly expression: string;
  /** Its value (a double; non-integers rounded to 15 significant digits). */
  readonly result: number;
}

/**
 * `calculate`: evaluates an arithmetic expression exactly as written, without `eval`. A syntax or
 * math error (division by zero, `sqrt(-1)`, …) reaches the model as the tool's error message, with
 * the position and a caret, so it can fix the expression.
 */
export const calculateTool = defineTool({
  name: 'calculate',
  description:
    'Evaluate an arithmetic expression and return its numeric value. Use it for any arithmetic instead of ' +
    'computing in your head. Supports numbers (1e3 notation too), + - * / % (remainder) ^ (power, ' +
    'right-associative; -2^2 = -4), parentheses, sqrt, abs, min, max, round(x[, digits]), floor, ceil, ln, log10, ' +
    'sin, cos, tan (radians) and the constants pi and e. No variables, units or implicit multiplication (write 2*pi).',
  parameters: CalculateArgs,
  timeoutMs: 1_000,
  retry: { maximumAttempts: 1 },
  // Pure computation: run inside the workflow task (a hop without a workflow task and a dispatch of its own).
  local: true,
  execute: ({ expression }): Promise<CalculateResult> => Promise.resolve({ expression, result: evaluate(expression) }),
});
