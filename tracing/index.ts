// The SDK itself (`./sdk`, `./worker`) is not re-exported: a process loads it only when it exports traces.
export { loadTracingConfig, TracingEnv, type TracingConfig } from './config';
export {
  captured,
  endLlmAttemptSpan,
  failSpan,
  GenAi,
  linkToReplacedAttempt,
  MAX_CAPTURED_CHARS,
  startLlmAttemptSpan,
  startToolSpan,
  TurnAttr,
  type ActivityTracing,
} from './genai';
export type { Tracing } from './sdk';
