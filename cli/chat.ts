import { randomUUID } from 'node:crypto';
import { createInterface, type Interface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { createParser } from 'eventsource-parser';
import { TurnEvent } from '../common';
import { UsageError, type Command } from './command';

const USAGE = `usage: turnflow chat "message" [--conversation ID] [--request ID] [--model NAME] [--max-hops N]
                     [--url URL] [--token TOKEN]

Runs one turn through the gateway and streams it: the answer on stdout as it comes, tool calls and
results marked on stderr. A call that needs approval is shown with its arguments and asks
\`approve? [y/N]\` on the terminal (a stdin that is not a terminal denies it). Ctrl-C stops generating
(the partial answer is kept); a second Ctrl-C quits.

  --conversation  conversation id (default: a new one, printed on stderr)
  --request       request id; the same id attaches to the same turn (default: a new one)
  --url           gateway URL (default: $TURNFLOW_URL or http://127.0.0.1:8080)
  --token         bearer token (default: $TURNFLOW_TOKEN or dev-token, the npm start default)

exit status: 0 completed, 130 cancelled, 1 failed`;

/** How the chat ended, as an exit status. */
const EXIT = { completed: 0, failed: 1, cancelled: 130 } as const;

/** Attempts to resume a dropped event stream (with Last-Event-ID) before giving up. */
const MAX_RESUMES = 5;

interface ChatOptions {
  message: string;
  conversationId: string;
  requestId: string;
  url: string;
  token: string;
  model: string | undefined;
  maxHops: number | undefined;
}

function parse(args: string[]): ChatOptions {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      conversation: { type: 'string' },
      request: { type: 'string' },
      model: { type: 'string' },
      'max-hops': { type: 'string' },
      url: { type: 'string' },
      token: { type: 'string' },
    },
  });
  const message = positionals.join(' ').trim();
  if (!message) throw new UsageError('a message is required');
  const maxHops = values['max-hops'] === undefined ? undefined : Number(values['max-hops']);
  if (maxHops !== undefined && !(Number.isInteger(maxHops) && maxHops >= 0)) {
    throw new UsageError('--max-hops must be a whole number ≥ 0');
  }
  return {
    message,
    conversationId: values.conversation ?? `cli-${randomUUID().slice(0, 8)}`,
    requestId: values.request ?? `cli-${randomUUID()}`,
    url: (values.url ?? process.env['TURNFLOW_URL'] ?? 'http://127.0.0.1:8080').replace(/\/+$/, ''),
    token: values.token ?? process.env['TURNFLOW_TOKEN'] ?? 'dev-token',
    model: values.model,
    maxHops,
  };
}

/** Writes one event to the terminal; returns the exit status once the turn is over. */
function render(event: TurnEvent): number | undefined {
  switch (event.type) {
    case 'text':
      process.stdout.write(event.text);
      return undefined;
    case 'hop_limit':
      process.stdout.write(event.text);
      return undefined;
    case 'tool_calls':
      process.stderr.write(`\n⚙ ${event.message} ${event.calls.map((c) => `${c.name}(${c.arguments})`).join(', ')}\n`);
      return undefined;
    case 'tool_result': {
      const content = event.content.length > 200 ? `${event.content.slice(0, 200)}…` : event.content;
      process.stderr.write(`↳ ${event.name}${event.isError ? ' failed' : ''}: ${content}\n`);
      return undefined;
    }
    case 'approval_requested':
      process.stderr.write(
        `\n? ${event.toolName}(${event.arguments}) needs approval${event.reason ? `: ${event.reason}` : ''} ` +
          `(approval ${event.approvalId}, until ${event.expiresAt})\n`,
      );
      return undefined;
    case 'approval_decided':
      process.stderr.write(`${event.approved ? '✓ approved' : '✗ denied'} (${event.decidedBy})\n`);
      return undefined;
    case 'reset':
      process.stderr.write(`\n↻ attempt ${event.supersededAttempt} was cut off; the answer starts over\n`);
      return undefined;
    case 'done':
      process.stdout.write('\n');
      process.stderr.write(`✓ ${event.status} · ${event.finishReason} · message ${event.messageId}\n`);
      return event.status === 'cancelled' ? EXIT.cancelled : EXIT.completed;
    case 'error':
      process.stdout.write('\n');
      process.stderr.write(`✗ ${event.errorType}: ${event.message}\n`);
      return EXIT.failed;
  }
}

/** Reads an SSE response, rendering events; returns the exit status, or the last cursor if the stream broke. */
async function follow(
  response: Response,
  onApproval: (event: Extract<TurnEvent, { type: 'approval_requested' }>) => void,
): Promise<{ status?: number; last?: string }> {
  let status: number | undefined;
  let last: string | undefined;
  const parser = createParser({
    onEvent: (message) => {
      if (message.id) last = message.id;
      const data: unknown = JSON.parse(message.data);
      const parsed = TurnEvent.safeParse(data);
      if (parsed.success) {
        status ??= render(parsed.data);
        if (parsed.data.type === 'approval_requested') onApproval(parsed.data);
      } else if (message.event === 'error') {
        // The gateway's own closing error (the turn ended without a final event of its own).
        const { errorType, message: text } = data as { errorType?: string; message?: string };
        process.stderr.write(`\n✗ ${errorType ?? 'error'}: ${text ?? message.data}\n`);
        status ??= EXIT.failed;
      }
    },
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of response.body ?? []) {
      parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
      if (status !== undefined) break;
    }
  } catch {
    // The connection dropped: the caller resumes from `last`.
  }
  return { ...(status !== undefined ? { status } : {}), ...(last !== undefined ? { last } : {}) };
}

async function failed(response: Response): Promise<number> {
  const body = await response.text();
  let message = body;
  try {
    message = (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? body;
  } catch {
    // not JSON: show it as it is
  }
  process.stderr.write(`✗ the gateway answered ${response.status}: ${message}\n`);
  return EXIT.failed;
}

export const chatCommand: Command = {
  summary: 'run one turn through the gateway and stream it to the terminal',
  usage: USAGE,
  async run(args) {
    const opts = parse(args);
    const headers = { authorization: `Bearer ${opts.token}`, 'content-type': 'application/json' };
    process.stderr.write(`conversation ${opts.conversationId}\n`);
    const response = await fetch(`${opts.url}/v1/conversations/${encodeURIComponent(opts.conversationId)}/turns`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        requestId: opts.requestId,
        message: opts.message,
        ...(opts.model !== undefined ? { model: opts.model } : {}),
        ...(opts.maxHops !== undefined ? { maxHops: opts.maxHops } : {}),
      }),
    });
    if (!response.ok) return failed(response);
    const turnPath = response.headers.get('location') ?? '';

    let interrupted = 0;
    process.on('SIGINT', () => {
      interrupted += 1;
      if (interrupted > 1) process.exit(EXIT.cancelled);
      process.stderr.write('\n■ stopping…\n');
      const cancelUrl = `${opts.url}${turnPath.replace(/\/events$/, '/cancel')}`;
      void fetch(cancelUrl, { method: 'POST', headers }).catch(() => undefined);
    });

    const approvals = new ApprovalPrompt(opts.url, turnPath, headers);
    const onApproval = (event: Extract<TurnEvent, { type: 'approval_requested' }>) => approvals.ask(event);
    try {
      return await stream();
    } finally {
      approvals.close();
    }

    async function stream(): Promise<number> {
      let outcome = await follow(response, onApproval);
      for (let resumes = 0; outcome.status === undefined && resumes < MAX_RESUMES; resumes++) {
        process.stderr.write('\n… reconnecting\n');
        const resumed = await fetch(`${opts.url}${turnPath}`, {
          headers: { ...headers, ...(outcome.last ? { 'last-event-id': outcome.last } : {}) },
        });
        if (!resumed.ok) return failed(resumed);
        const next = await follow(resumed, onApproval);
        outcome = { ...next, ...(next.last === undefined && outcome.last ? { last: outcome.last } : {}) };
      }
      return outcome.status ?? EXIT.failed;
    }
  },
};

/**
 * Asks the person at the terminal about each call waiting for approval, one at a time, and sends the answer to the
 * gateway (`POST /v1/turns/:turnId/approvals/:approvalId`). Anything but y/yes denies; so does a stdin that is not a
 * terminal (a script must not approve by accident). A repeated request (after a reconnect) is asked once.
 */
class ApprovalPrompt {
  private queue: Promise<void> = Promise.resolve();
  private readonly asked = new Set<string>();
  private rl: Interface | undefined;

  constructor(
    private readonly url: string,
    private readonly turnPath: string,
    private readonly headers: Record<string, string>,
  ) {}

  ask(event: Extract<TurnEvent, { type: 'approval_requested' }>): void {
    if (this.asked.has(event.approvalId)) return;
    this.asked.add(event.approvalId);
    this.queue = this.queue
      .then(() => this.decide(event))
      .catch((err: unknown) => {
        process.stderr.write(`✗ could not send the decision: ${String(err)}\n`);
      });
  }

  close(): void {
    this.rl?.close();
  }

  private async decide(event: Extract<TurnEvent, { type: 'approval_requested' }>): Promise<void> {
    let approved = false;
    if (!process.stdin.isTTY) {
      process.stderr.write('approve? [y/N] n (stdin is not a terminal: denied)\n');
    } else {
      if (!this.rl) {
        this.rl = createInterface({ input: process.stdin, output: process.stderr });
        // Ctrl-C at the prompt stops generating, as it does anywhere else.
        this.rl.on('SIGINT', () => process.emit('SIGINT'));
      }
      const answer = await this.rl.question('approve? [y/N] ');
      approved = /^\s*y(es)?\s*$/i.test(answer);
    }
    const path = this.turnPath.replace(/\/events$/, `/approvals/${encodeURIComponent(event.approvalId)}`);
    const response = await fetch(`${this.url}${path}`, {
      method: 'POST',
      headers: this.headers,
      body: JSON.stringify({ approved }),
    });
    if (!response.ok) await failed(response);
  }
}
