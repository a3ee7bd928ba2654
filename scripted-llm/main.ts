import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { loadScriptedLlmEnv } from './config';
import { startScriptedLlm } from './server';
import type { ScriptInput } from './script';

/**
 * Runs the scripted OpenAI-compatible server as its own process (offline demo, `npm start`,
 * benchmarks) until SIGINT or SIGTERM. With no queued scripts the demo model answers.
 */
async function main(): Promise<void> {
  const env = loadScriptedLlmEnv();
  const llm = await startScriptedLlm({
    port: env.SCRIPTED_LLM_PORT,
    host: env.SCRIPTED_LLM_HOST,
    admin: true,
    ...(env.TURNFLOW_FIXTURES_DIR === undefined ? {} : { fixturesDir: env.TURNFLOW_FIXTURES_DIR }),
  });
  try {
    if (env.SCRIPTED_LLM_SCRIPTS !== undefined) {
      const scripts = JSON.parse(await readFile(env.SCRIPTED_LLM_SCRIPTS, 'utf8')) as unknown;
      if (!Array.isArray(scripts)) throw new Error('SCRIPTED_LLM_SCRIPTS must hold a JSON array of scripts');
      llm.enqueue(...(scripts as ScriptInput[]));
      console.log(`scripted LLM: queued ${scripts.length} script(s) from ${env.SCRIPTED_LLM_SCRIPTS}`);
    }
    console.log(`scripted LLM listening on ${llm.baseURL}`);
    await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  } finally {
    await llm.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
