/**
 * The workflow_streams system's workflow: one turn is one workflow that hosts a `WorkflowStream`, runs the LLM
 * activity (which publishes the deltas into the stream) and then publishes `done`. It stays open until the
 * caller says it has read everything (`close`), as the library's own examples do.
 */
import { condition, proxyActivities, setHandler } from '@temporalio/workflow';
import { WorkflowStream } from '@temporalio/workflow-streams/workflow';
import type { createActivities } from './activities';
import { closeSignal, type ChatEvent } from './shared';

type Activities = ReturnType<typeof createActivities>;

const { streamLlm } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

export async function benchChat(input: { message: string }): Promise<{ chars: number }> {
  const stream = new WorkflowStream();
  let closed = false;
  setHandler(closeSignal, () => {
    closed = true;
  });
  const result = await streamLlm({ message: input.message });
  stream.topic<ChatEvent>('events').publish({ type: 'done' });
  await condition(() => closed, '1 minute');
  return result;
}
