import { Client } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { NativeConnection, Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { restartableDevServer } from '../dev';
import { timestampMs } from '../bench/histories';
import os from 'node:os';

const T = temporal.api.enums.v1.EventType;
const now = () => performance.timeOrigin + performance.now();
async function main() {
  const dev = await restartableDevServer({ parent: os.tmpdir(), extraArgs: (process.env['DC'] ?? '').split(' ').filter(Boolean).flatMap((v) => ['--dynamic-config-value', v]) });
  const connection = await NativeConnection.connect({ address: dev.address });
  const marks: number[] = [];
  const mode = process.env['POLL'] ?? 'autoscaling';
  const worker = await Worker.create({
    connection, taskQueue: 'q', workflowsPath: require.resolve('../bench/floor/workflow'),
    ...(mode === 'autoscaling' ? { workflowTaskPollerBehavior: { type: 'autoscaling' }, activityTaskPollerBehavior: { type: 'autoscaling' } } : {}),
    activities: { reached: async () => {}, step: async () => { marks.push(now()); } },
  });
  const client = new Client({ connection });
  await worker.runUntil(async () => {
    for (let i = 0; i < 6; i++) {
      marks.length = 0;
      const h = await client.workflow.start('floorHops', { workflowId: `h-${i}-${Date.now()}`, taskQueue: 'q', args: [3] });
      await h.result();
      const ev = (await h.fetchHistory()).events ?? [];
      const t0 = timestampMs(ev[0]!.eventTime);
      if (i < 2) continue;
      console.log('marks', marks.map((m) => Math.round(m - t0)).join(' '));
      console.log(ev.map((e) => `${T[e.eventType!]!.replace('EVENT_TYPE_', '').slice(0, 22)}@${Math.round(timestampMs(e.eventTime) - t0)}`).join(' '));
    }
  });
  await connection.close();
  await dev.destroy();
}
main().catch((e) => { console.error(e); process.exit(1); });
