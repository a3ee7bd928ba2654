import { runGlobalTeardown } from './teardown';

/**
 * Mocha global fixture (loaded through `.mocharc.json`'s `require`): stops what tests started on demand (the
 * Temporal dev server, the test database) once every test has run. Nothing was started if no test asked.
 */
export async function mochaGlobalTeardown(): Promise<void> {
  await runGlobalTeardown();
}
