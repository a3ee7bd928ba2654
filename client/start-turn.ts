import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type pg from 'pg';
import { z } from 'zod';
import { StartTurnRequest, TASK_QUEUE, turnIdFor, turnStartAttributes, type ChatTurnInput } from '../common';
import type { chatTurn } from '../workflows';
import { claimTurn, startWhileUndeleted } from './access';
import { ConversationDeletingError } from './errors';
import { checkDailyBudget, type DailyTokenBudgets } from './budget';
import type { CatalogCache } from './catalog';

/** Thrown when a start request fails validation, before anything reaches Temporal. */
export class InvalidTurnRequestError extends Error {
  override readonly name = 'InvalidTurnRequestError';
}

/** A started (or re-attached) turn. */
export interface StartedTurn {
  turnId: string;
  /** True when this (tenant, conversationId, requestId) already had a turn, running or finished: no new turn began. */
  attached: boolean;
  handle: WorkflowHandle<typeof chatTurn>;
}

/** What {@link startTurn} needs. */
export interface StartTurnDeps {
  temporal: Client;
  /** Pool on the turnflow database: the turn is stored (its ownership settled) before its workflow starts. */
  pool: pg.Pool;
  /** The workers' published catalog; without one (or while none is published) the workflow checks model and tools. */
  catalog?: CatalogCache;
  /** Daily token budgets per tenant (`TURNFLOW_TENANT_DAILY_TOKENS`): a start over budget throws. @default none */
  dailyTokens?: DailyTokenBudgets;
}

/**
 * Starts the turn for (tenant, conversationId, requestId), or attaches to the one that exists. The workflow id is
 * derived from the three and reused ids are rejected, so a repeated request never produces a second turn or a
 * second LLM call, and another tenant's request with the same ids is another turn; a finished turn's handle
 * yields its stored answer. The turn is stored under its tenant before the workflow starts, so it can be read
 * (and is owned) from the moment this returns.
 *
 * @throws InvalidTurnRequestError when the request is invalid or asks for a model or tool the workers do not serve.
 * @throws BudgetExhaustedError when the tenant has spent its daily token budget (a retry of an existing turn passes).
 * @throws ConversationDeletingError while the conversation is being deleted.
 */
export async function startTurn(
  deps: StartTurnDeps,
  request: StartTurnRequest,
  opts: { taskQueue?: string } = {},
): Promise<StartedTurn> {
  const parsed = StartTurnRequest.safeParse(request);
  if (!parsed.success) throw new InvalidTurnRequestError(z.prettifyError(parsed.error));
  const { message, ...turn } = parsed.data;
  const { tenantId, conversationId, requestId } = turn;
  const taskQueue = opts.taskQueue ?? TASK_QUEUE;
  const problem = await deps.catalog?.problem(taskQueue, parsed.data);
  if (problem !== undefined) throw new InvalidTurnRequestError(problem);
  await checkDailyBudget(deps.pool, deps.dailyTokens, tenantId, turnIdFor(tenantId, conversationId, requestId));

  const turnId = await claimTurn(deps.pool, {
    tenantId,
    conversationId,
    requestId,
    turnId: turnIdFor(tenantId, conversationId, requestId),
    message,
  });
  // Ids, names and numbers only: the message is stored with the turn row, never sent to Temporal.
  const input: ChatTurnInput = { ...turn, turnId };
  const held = await startWhileUndeleted(deps.pool, turnId, async () => {
    try {
      const handle = await deps.temporal.workflow.start<typeof chatTurn>('chatTurn', {
        workflowId: turnId,
        taskQueue,
        args: [input],
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: turnStartAttributes(input),
        staticSummary: `turn · ${tenantId} · ${conversationId}`,
      });
      return { turnId, attached: false, handle };
    } catch (err: unknown) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      // The id embeds the tenant, and claimTurn checked the stored owner: this is the caller's own turn.
      return { turnId, attached: true, handle: deps.temporal.workflow.getHandle<typeof chatTurn>(turnId) };
    }
  });
  // A deletion of the conversation began after the claim: it deletes the turn, whose workflow never started.
  if (!held) throw new ConversationDeletingError(conversationId);
  return held.value;
}
