export { createScratchDatabase, type ScratchDatabase } from './databases';
export { teardownTestEnv, testEnv, uniqueId, uniqueTaskQueue, type TestEnv } from './env';
export { registerGlobalTeardown } from './teardown';
