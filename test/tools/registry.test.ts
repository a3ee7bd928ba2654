import assert from 'node:assert/strict';
import { z } from 'zod';
import {
  builtinTools,
  createToolRegistry,
  DEFAULT_TOOL_TIMEOUT_MS,
  defineTool,
  MAX_LOCAL_TOOL_TIMEOUT_MS,
  ToolConfigError,
  UnknownToolsError,
  type Tool,
} from '../../activities/tools';

const noop = (): Promise<unknown> => Promise.resolve('ok');

function tool(name: string, extra: Partial<Tool> = {}): Tool {
  return defineTool({ name, description: `The ${name} tool.`, parameters: z.object({}), execute: noop, ...extra });
}

/** Asserts that creating a registry from `tools` fails with a ToolConfigError whose problems match `patterns`. */
function assertRejected(tools: readonly Tool[], ...patterns: RegExp[]): void {
  assert.throws(
    () => createToolRegistry(tools),
    (err: unknown) => {
      assert.ok(err instanceof ToolConfigError, `expected ToolConfigError, got ${String(err)}`);
      assert.equal(err.problems.length, patterns.length, err.message);
      patterns.forEach((pattern, i) => assert.match(err.problems[i] ?? '', pattern));
      assert.match(err.message, /^Invalid tool configuration:\n {2}- /);
      return true;
    },
  );
}

describe('tool registry', () => {
  describe('validation at creation', () => {
    it('accepts the built-in tools', () => {
      assert.deepEqual(createToolRegistry(builtinTools()).names, ['get_current_time', 'calculate']);
    });

    it('rejects duplicate names', () => {
      assertRejected([tool('lookup'), tool('lookup')], /^tool #1 "lookup": duplicate name/);
    });

    it('rejects names providers do not accept', () => {
      assertRejected(
        [tool('get time'), tool('x'.repeat(65)), tool(''), tool('ok_name-2')],
        /^tool #0 "get time": [\s\S]*must match \^\[a-zA-Z0-9_-\]\{1,64\}\$[\s\S]*→ at name/,
        /^tool #1 "x{65}": [\s\S]*must match/,
        /^tool #2 "": [\s\S]*must match/,
      );
    });

    it('rejects parameters that are not an object schema', () => {
      const notObject = { ...tool('scalar'), parameters: z.string() } as unknown as Tool;
      const union = {
        ...tool('union'),
        parameters: z.union([z.object({ a: z.string() }), z.object({ b: z.string() })]),
      };
      assertRejected(
        [notObject, union],
        /^tool #0 "scalar": parameters must be an object schema .*type "string"/,
        /^tool #1 "union": parameters must be an object schema/,
      );
    });

    it('rejects parameters that cannot be written as JSON Schema', () => {
      assertRejected(
        [defineTool({ name: 'when', description: 'd', parameters: z.object({ at: z.date() }), execute: noop })],
        /^tool #0 "when": parameters cannot be written as JSON Schema: Date cannot be represented/,
      );
    });

    it('rejects parameters that are not a zod schema, empty descriptions and bad limits', () => {
      const raw = { ...tool('raw'), parameters: { type: 'object' } } as unknown as Tool;
      assertRejected(
        [
          raw,
          tool('blank', { description: '  ' }),
          tool('slow', { timeoutMs: 0 }),
          tool('eager', { retry: { maximumAttempts: 0 } }),
        ],
        /^tool #0 "raw": [\s\S]*must be a zod schema[\s\S]*→ at parameters/,
        /^tool #1 "blank": [\s\S]*must not be empty/,
        /^tool #2 "slow": [\s\S]*→ at timeoutMs/,
        /^tool #3 "eager": [\s\S]*→ at retry\.maximumAttempts/,
      );
    });

    it('rejects a local tool whose timeout is unset or longer than a workflow task may run it', () => {
      assertRejected(
        [
          tool('unbounded', { local: true }),
          tool('slow', { local: true, timeoutMs: MAX_LOCAL_TOOL_TIMEOUT_MS + 1 }),
          tool('quick', { local: true, timeoutMs: MAX_LOCAL_TOOL_TIMEOUT_MS }),
        ],
        /^tool #0 "unbounded": a local tool must set timeoutMs, at most 10000/,
        /^tool #1 "slow": a local tool must set timeoutMs, at most 10000/,
      );
      assertRejected([tool('odd', { local: 'yes' as unknown as boolean })], /^tool #0 "odd": .*local/s);
    });

    it('rejects something that is not a tool at all', () => {
      assertRejected([null as unknown as Tool], /^tool #0: /);
    });
  });

  describe('definitions()', () => {
    it('emits the OpenAI tools array with plain object JSON schemas', () => {
      const calculate = createToolRegistry(builtinTools()).definitions()[1];
      assert.deepEqual(calculate, {
        type: 'function',
        function: {
          name: 'calculate',
          description: calculate?.function.description,
          parameters: {
            type: 'object',
            properties: {
              expression: {
                type: 'string',
                minLength: 1,
                maxLength: 500,
                description: 'Arithmetic expression, e.g. "(1.5e3 - 200) * 0.19" or "sqrt(2) * max(3, 4)^2"',
              },
            },
            required: ['expression'],
          },
        },
      });
      assert.match(calculate?.function.description ?? '', /-2\^2 = -4/);
    });

    it('has no $schema key, leaves defaulted fields optional and drops the safe-integer bounds of .int()', () => {
      const registry = createToolRegistry([
        defineTool({
          name: 'search',
          description: 'Search.',
          parameters: z.object({ query: z.string(), limit: z.number().int().min(1).default(10) }),
          execute: noop,
        }),
      ]);
      assert.deepEqual(registry.definitions()[0]?.function.parameters, {
        type: 'object',
        properties: { query: { type: 'string' }, limit: { type: 'integer', minimum: 1, default: 10 } },
        required: ['query'],
      });
    });

    it('emits an object schema with empty properties for a tool without arguments', () => {
      const registry = createToolRegistry([tool('ping', { parameters: z.strictObject({}) })]);
      assert.deepEqual(registry.definitions()[0]?.function.parameters, {
        type: 'object',
        properties: {},
        additionalProperties: false,
      });
    });

    it('returns a fresh copy each time', () => {
      const registry = createToolRegistry(builtinTools());
      const first = registry.definitions();
      first[0]!.function.name = 'mutated';
      assert.equal(registry.definitions()[0]?.function.name, 'get_current_time');
    });
  });

  describe('subset()', () => {
    const registry = createToolRegistry([tool('a'), tool('b'), tool('c')]);

    it("keeps the registry's order and ignores duplicates", () => {
      const subset = registry.subset(['c', 'a', 'c']);
      assert.deepEqual(subset.names, ['a', 'c']);
      assert.deepEqual(
        subset.definitions().map((d) => d.function.name),
        ['a', 'c'],
      );
      assert.equal(subset.has('b'), false);
      assert.equal(subset.get('b'), undefined);
      assert.equal(subset.get('a'), registry.get('a'));
    });

    it('allows an empty tool set', () => {
      assert.deepEqual(registry.subset([]).definitions(), []);
    });

    it('throws UnknownToolsError listing the unknown and the known names', () => {
      assert.throws(
        () => registry.subset(['a', 'x', 'y']),
        (err: unknown) => {
          assert.ok(err instanceof UnknownToolsError);
          assert.deepEqual(err.unknown, ['x', 'y']);
          assert.deepEqual(err.known, ['a', 'b', 'c']);
          assert.equal(err.message, 'Unknown tool(s): x, y. Known tools: a, b, c');
          return true;
        },
      );
    });
  });

  describe('policies()', () => {
    it('resolves each tool timeout and retry policy against the defaults', () => {
      const registry = createToolRegistry([
        tool('plain'),
        tool('tuned', { timeoutMs: 5_000, local: true, retry: { maximumAttempts: 5, initialIntervalMs: 200 } }),
      ]);
      assert.deepEqual(registry.policies(), {
        plain: {
          timeoutMs: DEFAULT_TOOL_TIMEOUT_MS,
          local: false,
          retry: { maximumAttempts: 3, initialInterval: 1_000, backoffCoefficient: 2, maximumInterval: 30_000 },
        },
        tuned: {
          timeoutMs: 5_000,
          local: true,
          retry: { maximumAttempts: 5, initialInterval: 200, backoffCoefficient: 2, maximumInterval: 30_000 },
        },
      });
      assert.deepEqual(registry.policy('tuned'), registry.policies()['tuned']);
      assert.equal(registry.policy('missing'), undefined);
    });
  });
});
