import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { builtinTools, defineTool } from '../../activities/tools';
import { TurnEvent } from '../../common';
import type { TestEnv } from '../support';
import { storedEvents } from '../turn/harness';

/** One run of a test tool: which tool, with which arguments, under which idempotency key. */
export interface ToolRun {
  tool: string;
  args: unknown;
  key: string;
}

/** Tools whose every run is counted: `refund` asks for approval above 100, `send_email` always. */
export function approvalTools() {
  const runs: ToolRun[] = [];
  const refund = defineTool({
    name: 'refund',
    description: 'Refunds an amount of an order.',
    parameters: z.object({ orderId: z.string(), amount: z.number() }),
    approval: ({ amount }) =>
      amount > 100 ? { approval: 'user', reason: `refund of ${amount} is above 100` } : 'never',
    execute: (args, ctx) => {
      runs.push({ tool: 'refund', args, key: ctx.idempotencyKey });
      return Promise.resolve({ refunded: args.amount });
    },
  });
  const sendEmail = defineTool({
    name: 'send_email',
    description: 'Sends an email.',
    parameters: z.object({ to: z.string() }),
    approval: 'user',
    execute: (args, ctx) => {
      runs.push({ tool: 'send_email', args, key: ctx.idempotencyKey });
      return Promise.resolve('sent');
    },
  });
  return { runs, tools: [...builtinTools(), refund, sendEmail] };
}

export type ApprovalRequested = Extract<TurnEvent, { type: 'approval_requested' }>;
export type ApprovalDecided = Extract<TurnEvent, { type: 'approval_decided' }>;

/** The turn's stored events, parsed. */
export async function turnEvents(env: TestEnv, turnId: string): Promise<TurnEvent[]> {
  return (await storedEvents(env, turnId)).map((e) => TurnEvent.parse(e));
}

/** Waits until the turn has announced `count` approval requests; returns them. */
export async function requested(env: TestEnv, turnId: string, count: number, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await turnEvents(env, turnId)).filter(
      (e): e is ApprovalRequested => e.type === 'approval_requested',
    );
    if (found.length >= count) return found;
    if (Date.now() > deadline) throw new Error(`turn ${turnId} announced fewer than ${count} approval request(s)`);
    await sleep(100);
  }
}

/** The turn's `approval_decided` events. */
export async function decided(env: TestEnv, turnId: string): Promise<ApprovalDecided[]> {
  return (await turnEvents(env, turnId)).filter((e): e is ApprovalDecided => e.type === 'approval_decided');
}
