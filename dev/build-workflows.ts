// `npm run build:workflows [file]`: bundles the workflows once, ahead of the worker (default `.data/workflow-bundle.js`).
// Start the worker with `TURNFLOW_WORKFLOW_BUNDLE=<file>` and it loads them instead of bundling at start; rebuild
// after every change to `workflows/` (a worker runs the bundle it is given, whatever the sources say).
import path from 'node:path';
import { writeWorkflowBundle } from '../worker/workflow-bundle';

const file = path.resolve(process.argv[2] ?? path.join(__dirname, '..', '.data', 'workflow-bundle.js'));
writeWorkflowBundle(file).then(
  () => console.log(`workflow bundle written to ${file}`),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
