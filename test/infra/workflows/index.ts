// A trivial workflow bundled by the harness test, proving that workflow bundling and a Worker work end to end.
import { upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { searchAttributeKeys } from '../../../common';

/** Input of {@link echo}. */
export interface EchoInput {
  text: string;
}

/** Output of {@link echo}. */
export interface EchoOutput {
  text: string;
  workflowId: string;
}

/** Marks the run with a project search attribute and returns its input. */
export async function echo(input: EchoInput): Promise<EchoOutput> {
  upsertSearchAttributes([{ key: searchAttributeKeys.TurnStatus, value: 'completed' }]);
  return Promise.resolve({ text: input.text, workflowId: workflowInfo().workflowId });
}
