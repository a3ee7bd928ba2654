import { Context } from '@temporalio/activity';
import { WorkflowStreamClient } from '@temporalio/workflow-streams/client';
import type OpenAI from 'openai';
import type { ChatEvent } from './shared';

/**
 * The LLM activity: streams the model and publishes each delta to the parent workflow's stream with the
 * library's chat settings: 200 ms batches, the first delta of an attempt flushed at once, and a retry marker
 * first when the activity is a retry (so a reader can drop the superseded attempt's text).
 */
export function createActivities(openai: OpenAI, model: string) {
  return {
    async streamLlm(input: { message: string }): Promise<{ chars: number }> {
      const ctx = Context.current();
      const client = WorkflowStreamClient.fromWithinActivity({ batchInterval: '200 milliseconds' });
      const events = client.topic<ChatEvent>('events');
      let chars = 0;
      try {
        if (ctx.info.attempt > 1) events.publish({ type: 'retry', attempt: ctx.info.attempt }, { forceFlush: true });
        const stream = await openai.chat.completions.create(
          { model, messages: [{ role: 'user', content: input.message }], stream: true },
          { signal: ctx.cancellationSignal },
        );
        for await (const chunk of stream) {
          const text = chunk.choices[0]?.delta?.content;
          if (!text) continue;
          events.publish({ type: 'text', text }, { forceFlush: chars === 0 });
          chars += text.length;
          ctx.heartbeat();
        }
      } finally {
        await client[Symbol.asyncDispose]();
      }
      return { chars };
    },
  };
}
