import { z } from 'zod';

/** Environment of the standalone scripted LLM process (`scripted-llm/main.ts`). */
export const ScriptedLlmEnv = z.object({
  /** @default 8089 */
  SCRIPTED_LLM_PORT: z.coerce.number().int().min(0).max(65535).default(8089),
  /** @default '127.0.0.1' */
  SCRIPTED_LLM_HOST: z.string().min(1).default('127.0.0.1'),
  /** Recorded SSE streams for `fixture` steps. @default `<repo>/../shared/fixtures/llm-streams` */
  TURNFLOW_FIXTURES_DIR: z.string().min(1).optional(),
  /** A JSON file holding an array of scripts to queue at start-up. */
  SCRIPTED_LLM_SCRIPTS: z.string().min(1).optional(),
});
/** Environment of the standalone scripted LLM process. */
export type ScriptedLlmEnv = z.infer<typeof ScriptedLlmEnv>;

/**
 * Parses the process environment, failing fast with the offending variable named.
 * @throws Error listing every invalid variable.
 */
export function loadScriptedLlmEnv(env: NodeJS.ProcessEnv = process.env): ScriptedLlmEnv {
  const parsed = ScriptedLlmEnv.safeParse(env);
  if (!parsed.success) throw new Error(`invalid scripted LLM environment:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
