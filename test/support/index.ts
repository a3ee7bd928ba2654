export { createScratchDatabase, type ScratchDatabase } from './databases';
export { teardownTestEnv, testEnv, uniqueId, uniqueTaskQueue, type TestEnv } from './env';
export { registerGlobalTeardown } from './teardown';
// A test hands most ports to a process that binds them later (after waiting for its dependencies, or bundling):
// the port is taken outside the ephemeral range, where no outgoing connection or port-0 listener can take it first.
export { stablePort as freePort, restartableDevServer, throwawayPostgres } from '../../dev';
export type { RestartableDevServer, ThrowawayPostgres } from '../../dev';
export { tcpProxy, type TcpProxy } from './tcp-proxy';
export { spawnWatched, spawnWorkerProcess, type WorkerProcess, type WorkerProcessEnv } from './worker-process';
