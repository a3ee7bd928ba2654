import { defineSignal } from '@temporalio/workflow';

/** Workflow type of a workflow_streams turn. */
export const WORKFLOW_TYPE = 'benchChat';

/** The caller read `done`: the workflow may end. */
export const closeSignal = defineSignal('close');

/** The events of the `events` topic. */
export type ChatEvent = { type: 'text'; text: string } | { type: 'retry'; attempt: number } | { type: 'done' };
