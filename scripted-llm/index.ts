/**
 * The scripted OpenAI-compatible LLM server: real HTTP, OpenAI's exact SSE wire format, scripted
 * answers (text, tool calls, faults, gates, byte-for-byte fixture replay) for tests, benchmarks
 * and the offline demo.
 *
 * @example
 * const llm = await startScriptedLlm();
 * llm.enqueue([{ text: 'Hello!' }], { httpError: { status: 429, headers: { 'retry-after': '1' } } });
 * const openai = new OpenAI({ baseURL: llm.baseURL, apiKey: 'test', maxRetries: 0 });
 *
 * @module
 */
export { startScriptedLlm } from './server';
export type { Responder, ScriptedLlm, ScriptedLlmOptions } from './types';
export type { ChunkSentInfo } from './player';
export type { ChatMessage, ChatRequest, RecordedRequest, RequestOutcome, ScriptSource } from './request';
export {
  DeltaStep,
  ErrorEvent,
  FinishReason,
  FixtureStep,
  GateStep,
  HttpError,
  parseScript,
  PauseStep,
  RawStep,
  Script,
  Step,
  TextStep,
  ToolCallSpec,
  ToolCallsStep,
  Usage,
} from './script';
export type { ScriptInput } from './script';
export { openAiErrorBody, ScriptError } from './errors';
export type { OpenAiErrorBody } from './errors';
export { demoScript, DEMO_DELAY_MS } from './demo';
export { resolveFixturesDir, splitSseEvents } from './fixtures';
export { splitText } from './chunks';
