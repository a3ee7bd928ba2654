import type { Pool } from 'pg';
import type OpenAI from 'openai';
import type { Logger } from 'pino';
import type { ActivityTracing } from '../tracing';
import type { TurnMetrics } from './metrics';
import type { ToolRegistry } from './tools';

/** Everything the activities need, built once by the worker (the composition root). */
export interface ActivityDeps {
  pool: Pool;
  /** Built with `maxRetries: 0`: Temporal's retry policy owns retries. */
  openai: OpenAI;
  tools: ToolRegistry;
  models: {
    /** Model used when a turn names none. */
    default: string;
    /** Every model a turn may ask for (includes the default). */
    allowed: readonly string[];
  };
  logger: Logger;
  /** Log every turn's first LLM reply, whatever the turn asked (the seed's `logging.llm_replies`). @default false */
  logLlmReplies?: boolean;
  /** Abort an LLM stream that sends nothing for this long (a stall), so the attempt is retried. @default 60000 */
  llmIdleTimeoutMs?: number;
  /**
   * Provider failures (429, 5xx, dropped, cut, stalled or malformed streams) one LLM hop may have before it
   * fails with `llm.retries_exhausted`. Lost workers do not count. @default 8
   */
  llmFailureBudget?: number;
  /**
   * Connections of `pool` the process's stream writers share, whatever the number of streams (capped at the
   * pool's size minus two). @default 4
   */
  streamConnections?: number;
  /**
   * Tools every call of which needs a person's approval, whatever their definition says (`TURNFLOW_APPROVAL_TOOLS`);
   * each must be in `tools`. @default []
   */
  approvalTools?: readonly string[];
  /** How long a call waits for a person before it is denied (`TURNFLOW_APPROVAL_TIMEOUT`). @default 86400000 (24 h) */
  approvalTimeoutMs?: number;
  /** How often running activities heartbeat. @default 1000 */
  heartbeatIntervalMs?: number;
  /** Where turns, attempts, tokens and tool calls are counted (`metrics/`), each once. @default none */
  metrics?: TurnMetrics;
  /**
   * Spans of each LLM attempt (`chat <model>`) and tool call (`execute_tool <name>`), GenAI semantic conventions;
   * `createTurnWorker({ tracing })` sets it. @default none: no spans, nothing stored for them
   */
  tracing?: ActivityTracing;
}
