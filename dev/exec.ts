import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';

/** Output of a finished command. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@link exec}. */
export interface ExecOptions {
  /** Extra environment variables, merged over `process.env`. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Resolve when the process exits rather than when its output pipes close. Needed for commands such as
   * `pg_ctl start` that leave a daemon behind which may inherit the pipes.
   * @default false
   */
  resolveOnExit?: boolean;
}

/** Thrown by {@link execOrThrow} when a command exits non-zero or cannot be spawned. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: string,
    readonly result: ExecResult | undefined,
    options?: { cause?: unknown },
  ) {
    const detail = result
      ? `exited with code ${result.code}: ${(result.stderr || result.stdout).trim()}`
      : 'could not be started';
    super(`${command} ${detail}`, options);
  }
}

/** Runs a command to completion, capturing its output; never throws for a non-zero exit. */
export function exec(command: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on(options.resolveOnExit ? 'exit' : 'close', (code: number | null, signal: NodeJS.Signals | null) => {
      if (options.resolveOnExit) {
        // The daemon may hold the pipes open; stop reading so they do not keep this process alive.
        child.stdout.destroy();
        child.stderr.destroy();
      }
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** Like {@link exec}, but throws a {@link CommandError} unless the command exits 0. */
export async function execOrThrow(
  command: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  const display = [command, ...args].join(' ');
  let result: ExecResult;
  try {
    result = await exec(command, args, options);
  } catch (err: unknown) {
    throw new CommandError(display, undefined, { cause: err });
  }
  if (result.code !== 0) throw new CommandError(display, result);
  return result;
}

/** Whether `file` exists and is executable by this process. */
export async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Finds `name` on `PATH` the way a shell would; `undefined` when absent. */
export async function whichOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Whether this process runs as root (Postgres refuses to, so the cluster is run as another user). */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
