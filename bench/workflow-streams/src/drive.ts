/**
 * The workflow_streams system's caller, run by the bench as a child process (it needs this package's SDK):
 * starts the turns named in a spec file, all at once or one after another, subscribes to each one's stream and
 * writes when each chunk token arrived.
 *
 *   node --import tsx bench/workflow-streams/src/drive.ts <spec.json> <out.json>
 */
import { readFile, writeFile } from 'node:fs/promises';
import { Client, Connection } from '@temporalio/client';
import { WorkflowStreamClient } from '@temporalio/workflow-streams/client';
import { closeSignal, WORKFLOW_TYPE, type ChatEvent } from './shared';

interface Spec {
  address: string;
  taskQueue: string;
  sequential: boolean;
  turns: { key: string; message: string }[];
}

/** The bench's record of one turn (the same shape as bench/systems/types.ts `TurnRecord`). */
interface TurnRecord {
  key: string;
  workflowId: string;
  startAt: number;
  firstDeltaAt?: number;
  endAt?: number;
  received: [string, number][];
}

const TOKEN = /K([a-z0-9-]+)\.(\d+)/g;
const now = () => performance.timeOrigin + performance.now();

async function runTurn(client: Client, spec: Spec, key: string, message: string): Promise<TurnRecord> {
  const workflowId = `ws-${key}`;
  const record: TurnRecord = { key, workflowId, startAt: now(), received: [] };
  await client.workflow.start(WORKFLOW_TYPE, { workflowId, taskQueue: spec.taskQueue, args: [{ message }] });
  const stream = WorkflowStreamClient.create(client, workflowId);
  for await (const item of stream.topic<ChatEvent>('events').subscribe(0)) {
    const at = now();
    const event = item.data;
    if (event.type === 'text') {
      record.firstDeltaAt ??= at;
      for (const m of event.text.matchAll(TOKEN)) record.received.push([`${m[1]}.${m[2]}`, at]);
    } else if (event.type === 'done') {
      record.endAt = at;
      break;
    }
  }
  await client.workflow.getHandle(workflowId).signal(closeSignal);
  return record;
}

async function main(): Promise<void> {
  const [specFile, outFile] = process.argv.slice(2);
  if (!specFile || !outFile) throw new Error('usage: drive.ts <spec.json> <out.json>');
  const spec = JSON.parse(await readFile(specFile, 'utf8')) as Spec;
  const connection = await Connection.connect({ address: spec.address });
  try {
    const client = new Client({ connection });
    const records: TurnRecord[] = [];
    if (spec.sequential) {
      for (const t of spec.turns) records.push(await runTurn(client, spec, t.key, t.message));
    } else {
      records.push(...(await Promise.all(spec.turns.map((t) => runTurn(client, spec, t.key, t.message)))));
    }
    await writeFile(outFile, JSON.stringify(records));
  } finally {
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
