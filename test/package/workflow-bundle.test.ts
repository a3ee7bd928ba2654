import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ensureBuilt } from '../../dev/ensure-built';
import { ROOT } from './build';

const DIST = path.join(ROOT, 'dist');
const load = createRequire(__filename);

/** What the compiled `worker/workflow-bundle.js` exports that these tests call. */
interface CompiledBundleModule {
  packagedWorkflowBundle(): { codePath: string } | undefined;
}

/** The installed version of an npm package of this repository. */
function installed(name: string): string {
  return (
    JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }
  ).version;
}

describe('the packaged workflow bundle', function () {
  this.timeout(300_000);
  const scratch = path.join(ROOT, '.data', `bundle-test-${process.pid}`);

  before(async () => {
    await ensureBuilt();
  });
  after(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it('is built beside the package with the Temporal SDK versions it embeds', () => {
    assert.ok(existsSync(path.join(DIST, 'workflow-bundle.js')));
    const manifest = JSON.parse(readFileSync(path.join(DIST, 'workflow-bundle.json'), 'utf8')) as unknown;
    assert.deepEqual(manifest, {
      sdk: {
        '@temporalio/workflow': installed('@temporalio/workflow'),
        '@temporalio/worker': installed('@temporalio/worker'),
      },
    });
    const compiled = load(path.join(DIST, 'worker', 'workflow-bundle.js')) as CompiledBundleModule;
    assert.deepEqual(compiled.packagedWorkflowBundle(), { codePath: path.join(DIST, 'workflow-bundle.js') });
  });

  it('is left aside when the installed SDK is not the one it was built with (the worker bundles at start)', () => {
    // A copy of the compiled module in a package layout of its own (inside the repository, so it resolves the
    // installed SDK), beside a bundle whose manifest names another SDK version.
    mkdirSync(path.join(scratch, 'worker'), { recursive: true });
    mkdirSync(path.join(scratch, 'workflows'), { recursive: true });
    copyFileSync(path.join(DIST, 'worker', 'workflow-bundle.js'), path.join(scratch, 'worker', 'workflow-bundle.js'));
    writeFileSync(path.join(scratch, 'workflows', 'index.js'), '');
    writeFileSync(path.join(scratch, 'workflow-bundle.js'), '');
    const manifest = (workflow: string) =>
      writeFileSync(
        path.join(scratch, 'workflow-bundle.json'),
        JSON.stringify({
          sdk: { '@temporalio/workflow': workflow, '@temporalio/worker': installed('@temporalio/worker') },
        }),
      );
    const copy = load(path.join(scratch, 'worker', 'workflow-bundle.js')) as CompiledBundleModule;
    manifest(installed('@temporalio/workflow'));
    assert.deepEqual(copy.packagedWorkflowBundle(), { codePath: path.join(scratch, 'workflow-bundle.js') });
    manifest('0.0.1');
    assert.equal(copy.packagedWorkflowBundle(), undefined);
  });
});
