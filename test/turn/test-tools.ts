import { z } from 'zod';
import { defineTool, RetryableToolError, type ToolContext } from '../../activities/tools';

/** Tools with observable behaviour, for turn tests (a seam the code owns: the registry). */
export function testTools() {
  const effects: { key: string; attempt: number }[] = [];
  const slowAborted: boolean[] = [];
  let flakyAttempts = 0;

  const echo = defineTool({
    name: 'echo',
    description: 'Returns its text.',
    parameters: z.object({ text: z.string() }),
    execute: ({ text }) => Promise.resolve(`echo: ${text}`),
  });
  const boom = defineTool({
    name: 'boom',
    description: 'Always fails.',
    parameters: z.object({}),
    execute: () => Promise.reject(new Error('the boom tool exploded')),
  });
  const slow = defineTool({
    name: 'slow',
    description: 'Takes longer than its timeout.',
    parameters: z.object({}),
    timeoutMs: 300,
    execute: (_args, ctx: ToolContext) =>
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve('finished late'), 5_000);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          slowAborted.push(true);
          resolve('aborted');
        });
      }),
  });
  const effect = defineTool({
    name: 'charge_card',
    description: 'A side effect that must happen once: fails transiently on its first attempt.',
    parameters: z.object({ amount: z.number() }),
    retry: { maximumAttempts: 3, initialIntervalMs: 100 },
    execute: ({ amount }, ctx) => {
      flakyAttempts += 1;
      effects.push({ key: ctx.idempotencyKey, attempt: flakyAttempts });
      if (flakyAttempts === 1) return Promise.reject(new RetryableToolError('payment gateway timed out'));
      return Promise.resolve({ charged: amount, idempotencyKey: ctx.idempotencyKey });
    },
  });
  const patient = defineTool({
    name: 'patient',
    description: 'Waits until it is cancelled.',
    parameters: z.object({}),
    timeoutMs: 60_000,
    execute: (_args, ctx: ToolContext) =>
      new Promise((resolve) => {
        ctx.signal.addEventListener('abort', () => {
          slowAborted.push(true);
          resolve('cancelled');
        });
      }),
  });
  const alwaysFlaky = defineTool({
    name: 'always_flaky',
    description: 'Fails transiently on every attempt.',
    parameters: z.object({}),
    retry: { maximumAttempts: 2, initialIntervalMs: 100 },
    execute: () => Promise.reject(new RetryableToolError('upstream is down')),
  });
  return { tools: [echo, boom, slow, effect, alwaysFlaky, patient], effects, slowAborted };
}
