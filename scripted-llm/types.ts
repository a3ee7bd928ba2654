import type { ChunkSentInfo } from './player';
import type { RecordedRequest } from './request';
import type { ScriptInput } from './script';

/** Chooses a script by looking at a request; used when the queue is empty. */
export type Responder = (request: RecordedRequest) => ScriptInput | Promise<ScriptInput>;

/** Options of {@link startScriptedLlm}. */
export interface ScriptedLlmOptions {
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** @default `TURNFLOW_FIXTURES_DIR`, else `<repo>/../shared/fixtures/llm-streams` */
  fixturesDir?: string;
  /** Serve the `/_scripted/*` control routes (enqueue, release, reset, requests). @default false */
  admin?: boolean;
  /** Initial value of {@link ScriptedLlm.onChunkSent}. */
  onChunkSent?: (info: ChunkSentInfo) => void;
}

/** A running scripted OpenAI-compatible server. */
export interface ScriptedLlm {
  /** What to hand to `new OpenAI({ baseURL })`, e.g. `http://127.0.0.1:41234/v1`. */
  readonly baseURL: string;
  readonly port: number;
  /** Chat completion requests received since start or the last `reset()`, oldest first. */
  readonly requests: readonly RecordedRequest[];
  /** Called after every SSE event written (latency probes). */
  onChunkSent?: ((info: ChunkSentInfo) => void) | undefined;
  /** Queues scripts; each request takes the next one. @throws ScriptError on an invalid script. */
  enqueue(...scripts: ScriptInput[]): void;
  /** Sets the responder used when the queue is empty (else the demo model answers). */
  respond(fn: Responder): void;
  /** Opens a gate for every stream waiting at it, now or later (until `reset()`). */
  release(gateName: string): void;
  /** Resolves once a stream has arrived at the gate. */
  gateReached(gateName: string): Promise<void>;
  /** Resolves when no request is in flight. */
  idle(): Promise<void>;
  /** Aborts requests in flight and forgets queue, responder, gates and recorded requests. */
  reset(): void;
  /** Aborts requests in flight and stops listening. */
  close(): Promise<void>;
}
