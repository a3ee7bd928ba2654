// The least a durable turn can do before its model call: a workflow whose first task schedules one activity.
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';

const { reached } = proxyActivities<{ reached(): Promise<void> }>({ startToCloseTimeout: '10 seconds' });

export async function floorTurn(): Promise<void> {
  await reached();
}

const { step } = proxyActivities<{ step(): Promise<void> }>({ startToCloseTimeout: '10 seconds' });

/** The least a tool hop can cost: after the model's activity, a tool's activity, then the model's again. */
export async function floorHops(hops: number): Promise<void> {
  await step();
  for (let i = 0; i < hops; i++) {
    await step();
    await step();
  }
}

const { localStep } = proxyLocalActivities<{ localStep(): Promise<void> }>({ startToCloseTimeout: '10 seconds' });

/** The same with the tool a local activity (turnflow's `local` tools): one workflow task and one dispatch per hop. */
export async function floorLocalHops(hops: number): Promise<void> {
  await step();
  for (let i = 0; i < hops; i++) {
    await localStep();
    await step();
  }
}
