import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../dev';
import type { BenchStack } from '../stack';
import { WORKFLOW_STREAMS_QUEUE } from '../stack';
import { messageFor } from '../tokens';
import type { System, TurnRecord } from './types';

const DRIVE = path.join(PROJECT_ROOT, 'bench', 'workflow-streams', 'src', 'drive.ts');

/**
 * Temporal's `@temporalio/workflow-streams` (SDK 1.23.0, isolated in bench/workflow-streams): each run is a child
 * process of that package that starts the turns and subscribes to their streams.
 */
export function workflowStreamsSystem(stack: BenchStack): System {
  let runs = 0;
  return {
    name: 'workflow_streams',
    async run(keys, opts) {
      runs += 1;
      const spec = path.join(stack.dir, `ws-spec-${runs}.json`);
      const out = path.join(stack.dir, `ws-out-${runs}.json`);
      await writeFile(
        spec,
        JSON.stringify({
          address: stack.temporalAddress,
          taskQueue: WORKFLOW_STREAMS_QUEUE,
          sequential: opts.sequential,
          turns: keys.map((key) => ({ key, message: messageFor(key) })),
        }),
      );
      await promisify(execFile)(process.execPath, ['--import', 'tsx', DRIVE, spec, out], {
        cwd: PROJECT_ROOT,
        maxBuffer: 16 * 1024 * 1024,
      });
      return JSON.parse(await readFile(out, 'utf8')) as TurnRecord[];
    },
  };
}
