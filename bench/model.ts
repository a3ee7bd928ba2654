import { startScriptedLlm, type ChatMessage, type RecordedRequest, type ScriptedLlm } from '../scripted-llm';
import { keyOfMessage, tokensIn, turnText } from './tokens';

/** What the model answers for one turn. */
export interface TurnPlan {
  /** Text chunks of the final answer. */
  chunks: number;
  /** Pause between chunks (the first is sent at once). */
  delayMs: number;
  /** Tool hops before the answer: the model calls `calculate` this many times, one call per hop. */
  toolHops?: number;
}

/**
 * The bench's scripted model: one real HTTP server every system talks to, with fixed pacing, which records when
 * each chunk left it (`performance.timeOrigin + performance.now()`, comparable across processes on this host) and
 * when each turn's first request arrived.
 */
export class BenchModel {
  /** Send time of each chunk token (`<key>.<index>`). */
  readonly sentAt = new Map<string, number>();
  /** Arrival time of each turn's first request. */
  readonly firstRequestAt = new Map<string, number>();
  /** Model's own first-token delay of each turn's last hop: first text chunk sent − that request's arrival. */
  readonly ownFirstTokenMs = new Map<string, number>();
  private readonly plans = new Map<string, TurnPlan>();
  private readonly requestOfIndex = new Map<number, { key: string; receivedAt: number; textHop: boolean }>();

  private constructor(readonly llm: ScriptedLlm) {}

  static async start(): Promise<BenchModel> {
    const llm = await startScriptedLlm({ port: 0 });
    const model = new BenchModel(llm);
    llm.respond((request) => model.respond(request));
    llm.onChunkSent = (info) => {
      if (info.text === undefined) return;
      const now = info.sentAt;
      const request = model.requestOfIndex.get(info.requestIndex);
      for (const token of tokensIn(info.text)) {
        model.sentAt.set(token, now);
        if (request?.textHop && !model.ownFirstTokenMs.has(request.key)) {
          model.ownFirstTokenMs.set(request.key, now - request.receivedAt);
        }
      }
    };
    return model;
  }

  get baseURL(): string {
    return this.llm.baseURL;
  }

  /** Registers what turn `key` gets; must come before the turn starts. */
  plan(key: string, plan: TurnPlan): void {
    this.plans.set(key, plan);
  }

  /** Forgets every plan and timestamp (between phases, to keep memory flat). */
  clear(): void {
    this.sentAt.clear();
    this.firstRequestAt.clear();
    this.ownFirstTokenMs.clear();
    this.plans.clear();
    this.requestOfIndex.clear();
  }

  close(): Promise<void> {
    return this.llm.close();
  }

  private respond(request: RecordedRequest) {
    const messages: ChatMessage[] = request.body.messages;
    const key = keyOfMessage(messages.findLast((m) => m.role === 'user')?.content);
    const plan = key === undefined ? undefined : this.plans.get(key);
    if (key === undefined || plan === undefined) return [{ text: 'unplanned request' }];
    if (!this.firstRequestAt.has(key)) this.firstRequestAt.set(key, request.receivedAt);
    const toolResults = messages.filter((m) => m.role === 'tool').length;
    const textHop = toolResults >= (plan.toolHops ?? 0);
    this.requestOfIndex.set(request.index, { key, receivedAt: request.receivedAt, textHop });
    if (!textHop) {
      return { steps: [{ toolCalls: [{ name: 'calculate', arguments: { expression: '1+1' }, argChunks: 0 }] }] };
    }
    return { steps: [{ text: turnText(key, plan.chunks) }], delayMs: plan.delayMs };
  }
}
