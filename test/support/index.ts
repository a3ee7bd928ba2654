export { createScratchDatabase, type ScratchDatabase } from './databases';
export { teardownTestEnv, testEnv, uniqueId, uniqueTaskQueue, type TestEnv } from './env';
export { registerGlobalTeardown } from './teardown';
export { freePort, restartableDevServer, throwawayPostgres } from '../../dev';
export type { RestartableDevServer, ThrowawayPostgres } from '../../dev';
export { tcpProxy, type TcpProxy } from './tcp-proxy';
export { spawnWatched, spawnWorkerProcess, type WorkerProcess, type WorkerProcessEnv } from './worker-process';
