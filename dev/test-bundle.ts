/**
 * The variable `npm test` (dev/test.ts) sets to the workflow bundle it built once for the run: the tests' in-process
 * workers and the worker processes they spawn load it instead of bundling the workflows again. Unset when a test file
 * runs alone (`npx mocha <file>`): each then bundles the sources itself, so an edit is never hidden behind a bundle.
 */
export const TEST_WORKFLOW_BUNDLE_ENV = 'TURNFLOW_TEST_WORKFLOW_BUNDLE';

/** The run's prebuilt workflow bundle file, if `npm test` made one. */
export function testWorkflowBundleFile(): string | undefined {
  return process.env[TEST_WORKFLOW_BUNDLE_ENV] || undefined;
}
