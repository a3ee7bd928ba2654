import type { TurnEvent } from '../../common';

/**
 * What a chat reader holds of a turn's current tool round: the calls the model made, the calls shown settled (a
 * result, or waiting for a person) and the approval requests shown. A chat stream ends at calls waiting for a person
 * once the reader holds every one of them and every other call of the round has its result (shown from storage when
 * its event is not out yet): then the answer so far is complete for
 * `lastAssistantMessageIsCompleteWithApprovalResponses`, and the person's decisions can be sent.
 */
export class ReaderView {
  private calls = new Set<string>();
  /** The hop of the current tool round. */
  round = 0;
  private readonly settled = new Set<string>();
  private readonly requested = new Set<string>();

  /** Takes an event the reader was given (by this stream or before it). */
  observe(event: TurnEvent): void {
    switch (event.type) {
      case 'tool_calls':
        this.calls = new Set(event.calls.map((c) => c.id));
        this.round = event.hop;
        this.settled.clear();
        break;
      case 'tool_result':
        this.settled.add(event.toolCallId);
        break;
      case 'approval_requested':
        this.requested.add(event.approvalId);
        this.settled.add(event.toolCallId);
        break;
      default:
        break;
    }
  }

  /** Whether `event` may be where the stream ends (asking Postgres only then). */
  mayPauseAfter(event: TurnEvent): boolean {
    return event.type === 'approval_requested' || event.type === 'approval_decided' || event.type === 'tool_result';
  }

  /** Whether the reader holds every approval in `pending` (at least one). */
  showsAll(pending: string[]): boolean {
    return pending.length > 0 && pending.every((id) => this.requested.has(id));
  }

  /** The calls of the current round the reader holds neither a result nor an approval request for. */
  unsettled(): string[] {
    return [...this.calls].filter((id) => !this.settled.has(id));
  }
}
