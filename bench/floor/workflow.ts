// The least a durable turn can do before its model call: a workflow whose first task schedules one activity.
import { proxyActivities } from '@temporalio/workflow';

const { reached } = proxyActivities<{ reached(): Promise<void> }>({ startToCloseTimeout: '10 seconds' });

export async function floorTurn(): Promise<void> {
  await reached();
}
