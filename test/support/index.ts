export { createScratchDatabase, type ScratchDatabase } from './databases';
export { teardownTestEnv, testEnv, uniqueId, uniqueTaskQueue, type TestEnv } from './env';
export { registerGlobalTeardown } from './teardown';
export { restartableDevServer, type RestartableDevServer } from './dev-server';
export { freePort } from './ports';
export { throwawayPostgres, type ThrowawayPostgres } from './throwaway-postgres';
export { tcpProxy, type TcpProxy } from './tcp-proxy';
export { spawnWorkerProcess, type WorkerProcess, type WorkerProcessEnv } from './worker-process';
