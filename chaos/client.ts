import { setTimeout as sleep } from 'node:timers/promises';
import { createParser } from 'eventsource-parser';
import { AnswerAssembler, isTerminal, turnIdFor, TurnEvent } from '../common';
import { CHAOS_TOOLS, type TurnPlan } from './plan';

/** What one chaos client saw of its turn. */
export interface ClientOutcome {
  index: number;
  turnId: string | undefined;
  /** The answer assembled from every event received, across drops and resumes. */
  text: string;
  terminal: 'done' | 'error' | undefined;
  errorType: string | undefined;
  /** Events delivered at or below a cursor already delivered (never expected). */
  duplicateEvents: number;
  /**
   * Ends the gateway announced without a cursor, by error type: `gateway.stream_failed` asks the client to resume
   * (counted, allowed); any other claims the turn ended without its own `done` or `error` (never expected).
   */
  gatewayEnds: string[];
  resumes: number;
  /** The cursor of the last event received (what a resume sends as `Last-Event-ID`), for the report of a lost end. */
  lastCursor: number;
  /** The HTTP statuses of resumes that failed, in order (a stream the gateway refused or could not open). */
  resumeFailures: number[];
  /** When each text event arrived (epoch ms), to measure recovery after a kill. */
  textTimes: number[];
  /** The request's own turn id (the stream it reads is `turnId`: another turn's when steered). */
  requestTurnId: string;
  /** What the start answered: its `Turn-State` (`running`, `queued`, `steered`), or `refused` with its HTTP status. */
  state: string | undefined;
  /** A refused start's HTTP status and `error.runningTurnId` (a `409` under `reject`). */
  refused: { status: number; runningTurnId: string | undefined } | undefined;
  /** The `done` event's `finishReason`. */
  finishReason: string | null | undefined;
  /** When the start was sent, answered and the terminal event arrived (epoch ms). */
  sentAt: number | undefined;
  endedAt: number | undefined;
}

/** Moments of a client's turn that the next message of its conversation may wait for. */
export interface ClientProgress {
  /** The start answered (or was refused). */
  onAnswered?: () => void;
  /** An event arrived; `received` events so far. */
  onEvent?: (received: number) => void;
}

/** Options of {@link runClient}. */
export interface ClientOptions {
  gatewayUrl: string;
  token: string;
  /** The token's tenant (turn ids name it). */
  tenant: string;
  /** Give up on the turn after this long. */
  deadlineMs: number;
  /** Give up on a start that has not answered after this long (a stuck conversation must not hold the run). */
  startDeadlineMs: number;
  /** Gives up at once. */
  signal?: AbortSignal;
  /**
   * A stream silent this long is given up and resumed, as a frontend with a heartbeat timeout does (the gateway's
   * keep-alive comments must come more often).
   */
  silenceMs: number;
}

/**
 * Plays a frontend through the gateway: starts the turn (retrying the same request id while the stack is down, which
 * attaches instead of starting twice), reads its events, drops the connection where the plan says and resumes with
 * `Last-Event-ID`, and resumes too whenever a stream ends without the turn's `done` or `error`.
 */
export async function runClient(
  plan: TurnPlan,
  opts: ClientOptions,
  progress: ClientProgress = {},
): Promise<ClientOutcome> {
  const outcome: ClientOutcome = {
    requestTurnId: turnIdFor(opts.tenant, plan.conversationId, plan.requestId),
    state: undefined,
    refused: undefined,
    finishReason: undefined,
    sentAt: undefined,
    endedAt: undefined,
    index: plan.index,
    turnId: undefined,
    text: '',
    terminal: undefined,
    errorType: undefined,
    duplicateEvents: 0,
    gatewayEnds: [],
    resumes: 0,
    lastCursor: 0,
    resumeFailures: [],
    textTimes: [],
  };
  const assembler = new AnswerAssembler();
  const drops = [...plan.dropsAfterEvents];
  const deadline = Date.now() + opts.deadlineMs;
  let last = 0;
  let received = 0;
  let backoff = 200;
  const headers = { authorization: `Bearer ${opts.token}` };

  const startDeadline = Date.now() + opts.startDeadlineMs;
  while (outcome.terminal === undefined && Date.now() < deadline && !opts.signal?.aborted) {
    if (!outcome.turnId && Date.now() > startDeadline) break;
    const receivedBefore = received;
    const abort = new AbortController();
    const giveUp = () => abort.abort();
    opts.signal?.addEventListener('abort', giveUp, { once: true });
    const timeout = setTimeout(() => abort.abort(), Math.max(0, deadline - Date.now()));
    let heardAt = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - heardAt > opts.silenceMs) abort.abort();
    }, opts.silenceMs / 4);
    outcome.sentAt ??= Date.now();
    try {
      const response = outcome.turnId
        ? await fetch(`${opts.gatewayUrl}/v1/turns/${encodeURIComponent(outcome.turnId)}/events`, {
            headers: { ...headers, 'last-event-id': String(last) },
            signal: abort.signal,
          })
        : await fetch(`${opts.gatewayUrl}/v1/conversations/${plan.conversationId}/turns`, {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json' },
            body: JSON.stringify({
              requestId: plan.requestId,
              message: plan.message,
              tools: [...CHAOS_TOOLS],
              doubleTexting: plan.policy,
              // Steered messages add their hops to the running turn's: room for a chain of them.
              maxHops: 12,
            }),
            signal: abort.signal,
          });
      if (!outcome.turnId && (response.status === 409 || (response.status >= 400 && response.status < 429))) {
        // A refusal is the start's answer (a `reject` while a turn runs): read it and stop.
        const body = (await response.json().catch(() => ({}))) as { error?: { runningTurnId?: unknown } };
        const running = body.error?.runningTurnId;
        outcome.refused = { status: response.status, runningTurnId: typeof running === 'string' ? running : undefined };
        outcome.state = 'refused';
        progress.onAnswered?.();
        break;
      }
      if (!response.ok || !response.body) {
        if (outcome.turnId) outcome.resumeFailures.push(response.status);
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status}`);
      }
      const turnId = response.headers.get('turn-id');
      if (turnId && !outcome.turnId) {
        outcome.turnId = decodeURIComponent(turnId);
        outcome.state = response.headers.get('turn-state') ?? undefined;
        progress.onAnswered?.();
      }
      const dropAt = drops[0];
      // Leaving the loop cancels the body (aborting the fetch after the body ended can leave the read pending).
      let hangUp = false;
      const parser = createParser({
        onEvent: (message) => {
          if (message.id === undefined) {
            // An end without a cursor: the gateway's own word that the stream stopped; resume to see the truth.
            const end = JSON.parse(message.data) as { errorType?: unknown };
            outcome.gatewayEnds.push(typeof end.errorType === 'string' ? end.errorType : message.data);
            return;
          }
          const event = TurnEvent.parse(JSON.parse(message.data));
          if (event.cursor <= last) {
            outcome.duplicateEvents += 1;
            return;
          }
          last = event.cursor;
          outcome.lastCursor = last;
          received += 1;
          backoff = 200;
          assembler.apply(event);
          if (event.type === 'text') outcome.textTimes.push(Date.now());
          if (isTerminal(event)) {
            outcome.terminal = event.type === 'done' ? 'done' : 'error';
            outcome.endedAt = Date.now();
            if (event.type === 'error') outcome.errorType = event.errorType;
            if (event.type === 'done') outcome.finishReason = event.finishReason;
            hangUp = true;
          } else if (dropAt !== undefined && received >= dropAt) {
            drops.shift();
            hangUp = true;
          }
          progress.onEvent?.(received);
        },
      });
      const decoder = new TextDecoder();
      for await (const chunk of response.body) {
        heardAt = Date.now();
        parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
        if (hangUp) break;
      }
    } catch {
      // Refused, reset or aborted by us: decided below.
    } finally {
      clearTimeout(timeout);
      clearInterval(watchdog);
      opts.signal?.removeEventListener('abort', giveUp);
    }
    if (outcome.terminal !== undefined) break;
    if (outcome.turnId) outcome.resumes += 1;
    // A stream that brought nothing (stack down, request refused) is retried with backoff; a drop, at once.
    if (received === receivedBefore) {
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 2_000);
    }
  }
  outcome.text = assembler.text;
  return outcome;
}
