import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { StartTurnRequest, TASK_QUEUE, searchAttributeKeys as keys, turnIdFor, type ChatTurnInput } from '../common';
import type { chatTurn } from '../workflows';

/** Thrown when a start request fails validation, before anything reaches Temporal. */
export class InvalidTurnRequestError extends Error {
  override readonly name = 'InvalidTurnRequestError';
}

/** A started (or re-attached) turn. */
export interface StartedTurn {
  turnId: string;
  /** True when this (conversationId, requestId) already had a turn, running or finished: no new turn began. */
  attached: boolean;
  handle: WorkflowHandle<typeof chatTurn>;
}

/**
 * Starts the turn for (conversationId, requestId), or attaches to the one that exists. The workflow id is
 * derived from the pair and reused ids are rejected, so a repeated request never produces a second turn or a
 * second LLM call; a finished turn's handle yields its stored answer.
 *
 * @throws InvalidTurnRequestError when the request is invalid.
 */
export async function startTurn(
  client: Client,
  request: StartTurnRequest,
  opts: { taskQueue?: string } = {},
): Promise<StartedTurn> {
  const parsed = StartTurnRequest.safeParse(request);
  if (!parsed.success) throw new InvalidTurnRequestError(z.prettifyError(parsed.error));
  const turnId = turnIdFor(parsed.data.conversationId, parsed.data.requestId);
  const input: ChatTurnInput = { ...parsed.data, turnId };
  try {
    const handle = await client.workflow.start<typeof chatTurn>('chatTurn', {
      workflowId: turnId,
      taskQueue: opts.taskQueue ?? TASK_QUEUE,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: [{ key: keys.ConversationId, value: parsed.data.conversationId }],
      staticSummary: `turn · ${parsed.data.conversationId}`,
    });
    return { turnId, attached: false, handle };
  } catch (err: unknown) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return { turnId, attached: true, handle: client.workflow.getHandle<typeof chatTurn>(turnId) };
  }
}
