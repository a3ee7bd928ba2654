import { z } from 'zod';
import type { ChatCompletionFunctionTool } from 'openai/resources/chat/completions';
import { MAX_LOCAL_TOOL_TIMEOUT_MS, type Tool } from './define';
import { ToolConfigError, UnknownToolsError } from './errors';
import { toToolJsonSchema, type JsonSchemaObject } from './json-schema';
import { toolPolicy, type ToolPolicy } from './policy';

/** The pattern OpenAI (and the compatible providers) require of function names. */
export const TOOL_NAME_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;

/** The tools a worker (or a turn) offers the model. */
export interface ToolRegistry {
  /** Tool names, in registration order (stable, so prompts stay cacheable). */
  readonly names: readonly string[];
  /** The tool called `name`, if any. */
  get(name: string): Tool | undefined;
  /** Whether a tool called `name` exists. */
  has(name: string): boolean;
  /**
   * The OpenAI `tools` array (a fresh copy each call). Empty for an empty registry: omit `tools`
   * from the request then, since providers reject an empty array.
   */
  definitions(): ChatCompletionFunctionTool[];
  /**
   * What the model is offered now, read once per tool: the `tools` array (tools their owner no longer lists left
   * out) and the fingerprint of each described tool that has one (MCP tools), to store with the hop.
   */
  offered(): OfferedTools;
  /** The described tool's fingerprint now, and whether its owner still lists it; `undefined` for other tools. */
  currentFingerprint(name: string): { fingerprint: string | undefined; available: boolean } | undefined;
  /** Resolved timeout and retry policy of the tool called `name`, if any. */
  policy(name: string): ToolPolicy | undefined;
  /** Every tool's policy by name, as plain JSON for workflow input. */
  policies(): Record<string, ToolPolicy>;
  /**
   * A registry of just the named tools, in this registry's order; duplicates are ignored.
   * @throws {@link UnknownToolsError} if any name is unknown.
   */
  subset(names: Iterable<string>): ToolRegistry;
}

const PositiveMs = z
  .number()
  .int()
  .positive()
  .max(24 * 60 * 60 * 1000);

/** The non-schema fields of a tool definition, checked at registry creation. */
const ToolShape = z.object({
  name: z.string().regex(TOOL_NAME_PATTERN, { error: `must match ${TOOL_NAME_PATTERN.source}` }),
  description: z.string().trim().min(1, { error: 'must not be empty' }),
  parameters: z.custom<z.ZodType>((value) => value instanceof z.ZodType, { error: 'must be a zod schema' }),
  execute: z.custom<Tool['execute']>((value) => typeof value === 'function', { error: 'must be a function' }),
  describe: z
    .custom<Tool['describe']>((value) => typeof value === 'function', { error: 'must be a function' })
    .optional(),
  timeoutMs: PositiveMs.optional(),
  local: z.boolean().optional(),
  approval: z
    .union([
      z.enum(['user', 'never']),
      z.custom<(...args: unknown[]) => unknown>((value) => typeof value === 'function', {
        error: "must be 'user', 'never' or a function",
      }),
    ])
    .optional(),
  retry: z
    .strictObject({
      maximumAttempts: z.number().int().min(1).max(100).optional(),
      initialIntervalMs: PositiveMs.optional(),
      backoffCoefficient: z.number().min(1).max(10).optional(),
      maximumIntervalMs: PositiveMs.optional(),
    })
    .optional(),
});

interface Entry {
  readonly tool: Tool;
  readonly definition: ChatCompletionFunctionTool;
  readonly policy: ToolPolicy;
}

/**
 * Builds a registry from tool definitions, validating all of them first so a bad tool configuration
 * stops the worker at start-up.
 *
 * @throws {@link ToolConfigError} listing every problem: duplicate or malformed names, empty
 * descriptions, parameters that are not a zod object schema or cannot be written as JSON Schema,
 * out-of-range `timeoutMs` / `retry` values, a `local` tool without a short `timeoutMs`.
 */
export function createToolRegistry(tools: readonly Tool[]): ToolRegistry {
  const problems: string[] = [];
  const entries: Entry[] = [];
  const seen = new Set<string>();
  tools.forEach((tool, index) => {
    const label = describeTool(tool, index);
    const shape = ToolShape.safeParse(tool);
    if (!shape.success) {
      problems.push(`${label}: ${indent(z.prettifyError(shape.error))}`);
      return;
    }
    if (seen.has(tool.name)) {
      problems.push(`${label}: duplicate name (names must be unique)`);
      return;
    }
    seen.add(tool.name);
    if (tool.local === true && (tool.timeoutMs === undefined || tool.timeoutMs > MAX_LOCAL_TOOL_TIMEOUT_MS)) {
      problems.push(
        `${label}: a local tool must set timeoutMs, at most ${MAX_LOCAL_TOOL_TIMEOUT_MS} (it runs inside a workflow task)`,
      );
      return;
    }
    const schema = tool.describe ? describedSchema(tool.describe()) : parametersJsonSchema(tool.parameters);
    if (typeof schema === 'string') {
      problems.push(`${label}: parameters ${schema}`);
      return;
    }
    entries.push({
      tool,
      policy: toolPolicy(tool),
      definition: {
        type: 'function',
        function: { name: tool.name, description: tool.description.trim(), parameters: schema },
      },
    });
  });
  if (problems.length > 0) throw new ToolConfigError(problems);
  return registryOf(entries);
}

function registryOf(entries: readonly Entry[]): ToolRegistry {
  const byName = new Map(entries.map((entry) => [entry.tool.name, entry] as const));
  const names = Object.freeze(entries.map((entry) => entry.tool.name));
  return {
    names,
    get: (name) => byName.get(name)?.tool,
    has: (name) => byName.has(name),
    definitions: () => offer(entries).definitions,
    offered: () => offer(entries),
    currentFingerprint(name) {
      const tool = byName.get(name)?.tool;
      if (!tool?.describe) return undefined;
      const described = tool.describe();
      return { fingerprint: described.fingerprint, available: described.available !== false };
    },
    policy: (name) => byName.get(name)?.policy,
    policies: () => Object.fromEntries(entries.map((entry) => [entry.tool.name, entry.policy])),
    subset(requested) {
      const wanted = new Set(requested);
      const unknown = [...wanted].filter((name) => !byName.has(name));
      if (unknown.length > 0) throw new UnknownToolsError(unknown, names);
      return registryOf(entries.filter((entry) => wanted.has(entry.tool.name)));
    },
  };
}

/** What {@link ToolRegistry.offered} returns. */
export interface OfferedTools {
  definitions: ChatCompletionFunctionTool[];
  /** Fingerprints of the described tools offered, by name. */
  fingerprints: Record<string, string>;
}

/** The tools as the model is offered them now: a described tool's definition is read again each time. */
function offer(entries: readonly Entry[]): OfferedTools {
  const definitions: ChatCompletionFunctionTool[] = [];
  const fingerprints: Record<string, string> = {};
  for (const entry of entries) {
    if (!entry.tool.describe) {
      definitions.push(structuredClone(entry.definition));
      continue;
    }
    const { description, parameters, fingerprint, available } = entry.tool.describe();
    if (available === false) continue;
    if (fingerprint !== undefined) fingerprints[entry.tool.name] = fingerprint;
    definitions.push({
      type: 'function',
      function: { name: entry.tool.name, description, parameters: structuredClone(parameters) },
    });
  }
  return { definitions, fingerprints };
}

/** The JSON Schema a described tool gives, or a sentence saying why it cannot be offered. */
function describedSchema(described: { parameters: JsonSchemaObject }): JsonSchemaObject | string {
  return described.parameters['type'] === 'object' ? described.parameters : 'must be a JSON Schema of type "object"';
}

/** The JSON Schema of a tool's parameters, or a sentence saying why there is none. */
function parametersJsonSchema(parameters: z.ZodType): JsonSchemaObject | string {
  let schema: JsonSchemaObject;
  try {
    schema = toToolJsonSchema(parameters);
  } catch (err: unknown) {
    return `cannot be written as JSON Schema: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (schema['type'] !== 'object') {
    const got = typeof schema['type'] === 'string' ? `type "${schema['type']}"` : JSON.stringify(schema).slice(0, 80);
    return `must be an object schema (z.object(...)) without an id, got ${got}`;
  }
  return schema;
}

function describeTool(tool: unknown, index: number): string {
  const name: unknown = typeof tool === 'object' && tool !== null ? (tool as { name?: unknown }).name : undefined;
  return typeof name === 'string' ? `tool #${index} "${name}"` : `tool #${index}`;
}

function indent(text: string): string {
  return `\n    ${text.replace(/\n/g, '\n    ')}`;
}
