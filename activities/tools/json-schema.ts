import { z } from 'zod';

/** A JSON Schema object as sent in a tool definition's `parameters`. */
export type JsonSchemaObject = Record<string, unknown>;

/**
 * Converts a tool's parameters schema into the JSON Schema providers accept as function
 * `parameters`:
 * - the *input* side of the schema (`io: 'input'`), so fields with a `.default()` are optional for
 *   the model and `.transform()`s do not make the schema unrepresentable;
 * - no `$schema` key (several OpenAI-compatible providers reject it, OpenAI does not need it);
 * - no `minimum`/`maximum` that only restate JavaScript's safe integer range (zod adds them to every
 *   `.int()`; they cost tokens and tell the model nothing).
 *
 * Throws what `z.toJSONSchema` throws for types JSON Schema cannot express (`z.date()`, `z.bigint()`, …).
 * The caller checks that the root is `type: 'object'`.
 */
export function toToolJsonSchema(schema: z.ZodType): JsonSchemaObject {
  const json: JsonSchemaObject = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'throw',
    override: ({ jsonSchema }) => {
      const node = jsonSchema as JsonSchemaObject;
      if (node['minimum'] === Number.MIN_SAFE_INTEGER) delete node['minimum'];
      if (node['maximum'] === Number.MAX_SAFE_INTEGER) delete node['maximum'];
    },
  });
  delete json['$schema'];
  return json;
}
