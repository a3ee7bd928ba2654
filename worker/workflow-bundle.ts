import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

/** Path of the workflows module, for bundling. */
export const WORKFLOWS_PATH = require.resolve('../workflows');

/** Where `npm run build` puts the bundle of the compiled workflows: `dist/workflow-bundle.js`, beside the package. */
export const PACKAGED_BUNDLE = path.resolve(__dirname, '..', 'workflow-bundle.js');
/** Beside it: the Temporal SDK versions it was built with (see {@link packagedWorkflowBundle}). */
const PACKAGED_MANIFEST = path.resolve(__dirname, '..', 'workflow-bundle.json');

/** The SDK packages a bundle depends on: the workflow runtime it embeds, and the worker that runs it. */
const SDK_PACKAGES = ['@temporalio/workflow', '@temporalio/worker'] as const;

/** Only the bundler's errors are printed (its progress is noise in a build or a test run). */
export const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message: string, meta?: Record<string, unknown>) => console.error(message, meta),
};

/**
 * Bundles the workflows (the ones beside this module: the sources under tsx, `dist/workflows` once compiled) into
 * `file`, ahead of the worker: a worker given the file (`TURNFLOW_WORKFLOW_BUNDLE`, or `workflowBundle: { codePath }`)
 * reads it instead of running webpack at start, so it never holds the bundler's heap. The file is written whole or
 * not at all (a temporary file renamed over it), so a worker never reads half a bundle.
 */
export async function writeWorkflowBundle(file: string): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
  await mkdir(path.dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.partial`;
  await writeFile(partial, code);
  await rename(partial, file);
}

/** The installed version of each of {@link SDK_PACKAGES}, as this module resolves them. */
function sdkVersions(): Record<string, string> {
  return Object.fromEntries(
    SDK_PACKAGES.map((name) => {
      const manifest = JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string };
      return [name, manifest.version];
    }),
  );
}

/** `npm run build`'s step: the compiled workflows bundled into `dist/`, with the SDK versions they were built with. */
export async function writePackagedWorkflowBundle(): Promise<void> {
  await writeWorkflowBundle(PACKAGED_BUNDLE);
  await writeFile(PACKAGED_MANIFEST, `${JSON.stringify({ sdk: sdkVersions() }, null, 2)}\n`);
}

/**
 * The bundle a worker loads when it is given none: the packaged one when this module runs compiled from `dist/`
 * (written by the same build, so it holds the very workflows beside it) and the installed Temporal SDK is the one it
 * was built with (the bundle embeds the workflow runtime: a team on another SDK version bundles at start); none under
 * tsx (the sources are bundled at start, so an edit is never hidden behind an old bundle).
 */
export function packagedWorkflowBundle(): { codePath: string } | undefined {
  if (path.extname(__filename) !== '.js' || !existsSync(PACKAGED_BUNDLE) || !existsSync(PACKAGED_MANIFEST)) {
    return undefined;
  }
  const built = (JSON.parse(readFileSync(PACKAGED_MANIFEST, 'utf8')) as { sdk?: Record<string, string> }).sdk ?? {};
  const installed = sdkVersions();
  return SDK_PACKAGES.every((name) => built[name] === installed[name]) ? { codePath: PACKAGED_BUNDLE } : undefined;
}
