import type { FinishReason, UIMessageChunk } from 'ai';
import { isTooDeep, type TurnEvent, type Usage } from '../../common';
import type { TurnClosure } from '../outcome';

/** What the `finish` part's `messageMetadata` carries: turnflow's own words for how the turn ended. */
export interface ChatMessageMetadata {
  turnId: string;
  /** `awaiting_approval`: the stream ended at calls waiting for a person; the turn goes on once they are decided. */
  status: 'completed' | 'cancelled' | 'awaiting_approval';
  /** The provider's finish reason, or `tool_limit_reached`, `cancelled`; `null` when none was sent. */
  finishReason: string | null;
  usage: Usage | null;
}

/** The id of the assistant message answering the user message `requestId`: the same on every read of the turn. */
export function answerMessageId(requestId: string): string {
  return `${requestId}-answer`;
}

/**
 * Turns a turn's events, in stream order, into the parts of the AI SDK's UI message stream. One step per hop
 * (`start-step` … `finish-step`), a text part per run of text of one attempt, a tool part per call, `reset` as
 * `reset-step` (the SDK drops the parts of the current step: the retried attempt starts over, as turnflow's own
 * readers do), the hop-limit warning as text, `done` as `finish`, `error` as `error`. The same events always give
 * the same parts, so a replay from the start reads like the live stream.
 */
export class UiChunkTranslator {
  private hop: number | undefined;
  private openText: string | undefined;
  private texts = 0;
  /** Calls denied before they ran: their stored "denied" result is shown as the denial, not as a tool error. */
  private readonly denied = new Set<string>();

  /**
   * @param resumeHop - continue a message the reader already holds up to this hop (after its approval requests):
   *   the hop's step is open on the reader's side, so its parts follow without a new step.
   */
  constructor(
    private readonly messageId: string,
    resumeHop?: number,
  ) {
    this.hop = resumeHop;
  }

  /** The stream's first part. */
  start(): UIMessageChunk[] {
    return [{ type: 'start', messageId: this.messageId }];
  }

  /** The parts of one event. */
  event(event: TurnEvent): UIMessageChunk[] {
    const out: UIMessageChunk[] = [];
    switch (event.type) {
      case 'queued':
        // The turn waits behind another turn of the chat: say so without making it part of the message.
        out.push({
          type: 'data-turnflow-queued',
          data: { position: event.position, runningTurnId: event.runningTurnId },
          transient: true,
        });
        break;
      case 'text':
        this.step(event.hop, out);
        this.appendText(event, event.text, out);
        break;
      case 'hop_limit':
        this.step(event.hop, out);
        this.appendText(event, event.text, out);
        this.closeText(out);
        break;
      case 'reset':
        this.step(event.hop, out);
        // reset-step drops the step's open parts itself; a text-end for a dropped part would name nothing.
        this.openText = undefined;
        out.push({ type: 'reset-step' });
        break;
      case 'tool_calls':
        this.step(event.hop, out);
        this.closeText(out);
        for (const call of event.calls) {
          out.push({
            type: 'tool-input-available',
            toolCallId: call.id,
            toolName: call.name,
            input: parseJsonOrText(call.arguments),
            dynamic: true,
          });
        }
        break;
      case 'approval_requested':
        this.step(event.hop, out);
        this.closeText(out);
        out.push({
          type: 'tool-approval-request',
          approvalId: event.approvalId,
          toolCallId: event.toolCallId,
          ...(event.reason === null ? {} : { reason: event.reason }),
        });
        break;
      case 'approval_decided':
        // The decision stays on the part (`approval.approved`); a denied call is denied now and never runs, an
        // approved one shows its output when it has one.
        this.step(event.hop, out);
        this.closeText(out);
        out.push({
          type: 'tool-approval-response',
          approvalId: event.approvalId,
          approved: event.approved,
          ...(event.reason === null ? {} : { reason: event.reason }),
        });
        if (!event.approved) {
          this.denied.add(event.toolCallId);
          out.push({ type: 'tool-output-denied', toolCallId: event.toolCallId });
        }
        break;
      case 'tool_result':
        if (this.denied.has(event.toolCallId)) break;
        this.step(event.hop, out);
        this.closeText(out);
        out.push(resultChunk(event));
        break;
      case 'done': {
        this.endStep(out);
        const metadata: ChatMessageMetadata = {
          turnId: event.turnId,
          status: event.status,
          finishReason: event.status === 'cancelled' ? 'cancelled' : event.finishReason,
          usage: event.usage,
        };
        out.push({ type: 'finish', finishReason: finishReasonOf(metadata.finishReason), messageMetadata: metadata });
        break;
      }
      case 'error':
        this.endStep(out);
        out.push({ type: 'error', errorText: `${event.message} (${event.errorType})` });
        break;
      default: {
        // A new kind of event must be given its parts here: this fails to compile until it is.
        const unhandled: never = event;
        throw new Error(`no UI message parts for event ${JSON.stringify(unhandled)}`);
      }
    }
    return out;
  }

  /**
   * The parts of results stored before their `tool_result` events (a round's results are announced once the round
   * ends; while some of its calls wait for a person, the reader is shown the others' results from storage).
   */
  storedResults(results: StoredToolResult[]): UIMessageChunk[] {
    return results.filter((r) => !this.denied.has(r.toolCallId)).map(resultChunk);
  }

  /**
   * The parts that end a stream at calls waiting for a person: the message so far is finished (its tool parts are
   * `approval-requested`), while the turn goes on waiting. A decision continues the same message.
   */
  awaiting(turnId: string): UIMessageChunk[] {
    const out: UIMessageChunk[] = [];
    this.endStep(out);
    const metadata: ChatMessageMetadata = { turnId, status: 'awaiting_approval', finishReason: null, usage: null };
    out.push({ type: 'finish', finishReason: 'tool-calls', messageMetadata: metadata });
    return out;
  }

  /** The parts that end a stream whose turn closed without a terminal event. */
  closure(closure: TurnClosure): UIMessageChunk[] {
    const out: UIMessageChunk[] = [];
    this.endStep(out);
    out.push({ type: 'error', errorText: `${closure.message} (${closure.errorType})` });
    return out;
  }

  private step(hop: number, out: UIMessageChunk[]): void {
    if (this.hop === hop) return;
    this.endStep(out);
    this.hop = hop;
    out.push({ type: 'start-step' });
  }

  private endStep(out: UIMessageChunk[]): void {
    if (this.hop === undefined) return;
    this.closeText(out);
    this.hop = undefined;
    out.push({ type: 'finish-step' });
  }

  private appendText(event: TurnEvent, text: string, out: UIMessageChunk[]): void {
    if (text === '') return;
    if (this.openText === undefined) {
      this.openText = `text-${event.hop}-${event.attempt}-${this.texts++}`;
      out.push({ type: 'text-start', id: this.openText });
    }
    out.push({ type: 'text-delta', id: this.openText, delta: text });
  }

  private closeText(out: UIMessageChunk[]): void {
    if (this.openText === undefined) return;
    out.push({ type: 'text-end', id: this.openText });
    this.openText = undefined;
  }
}

/** A tool's stored result. */
export interface StoredToolResult {
  toolCallId: string;
  content: string;
  isError: boolean;
}

function resultChunk(result: StoredToolResult): UIMessageChunk {
  return result.isError
    ? { type: 'tool-output-error', toolCallId: result.toolCallId, errorText: result.content, dynamic: true }
    : {
        type: 'tool-output-available',
        toolCallId: result.toolCallId,
        output: parseJsonOrText(result.content),
        dynamic: true,
      };
}

/**
 * A tool call's arguments or a tool's result: parsed when it is JSON, else the text as it is. JSON nested past
 * `MAX_JSON_DEPTH` stays text: the model wrote it, and writing the chunk (`JSON.stringify`) would overflow the stack.
 */
function parseJsonOrText(text: string): unknown {
  if (isTooDeep(text)) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The AI SDK's finish reason for turnflow's (which keeps the exact one in the message metadata). */
function finishReasonOf(reason: string | null): FinishReason {
  switch (reason) {
    case 'stop':
      return 'stop';
    case 'length':
      return 'length';
    case 'content_filter':
      return 'content-filter';
    case 'tool_calls':
      return 'tool-calls';
    default:
      return 'other';
  }
}
