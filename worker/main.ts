// The worker entry point (`npm run worker`, `npm start`, the compose service): built-in tools, configuration from the
// environment.
import { runWorkerProcess } from './process';

runWorkerProcess().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
