import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/** How a supervised child ended. */
export interface ChildExit {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What to run under the {@link Supervisor}. */
export interface ChildSpec {
  /** Short name, used as the prefix of its output lines. */
  name: string;
  command: string;
  args: readonly string[];
  /** Extra environment variables, merged over `process.env`. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Drop its output once stopping begins (servers complaining that their peers went away).
   * @default false
   */
  quietWhenStopping?: boolean;
}

interface Running {
  name: string;
  process: ChildProcess;
  exited: Promise<ChildExit>;
}

/**
 * Starts child processes, prefixes their output with their name, and stops them in reverse start order.
 * The first child to exit on its own (not because {@link Supervisor.stopAll} asked) is reported by
 * {@link Supervisor.firstUnexpectedExit}.
 */
export class Supervisor {
  private readonly running: Running[] = [];
  private stopping = false;
  private reportExit: ((exit: ChildExit) => void) | undefined;
  /** Resolves with the first child that exits while the supervisor is not stopping. */
  readonly firstUnexpectedExit: Promise<ChildExit>;

  constructor(private readonly out: (line: string) => void = (line) => console.log(line)) {
    this.firstUnexpectedExit = new Promise((resolve) => (this.reportExit = resolve));
  }

  /** Spawns `spec`; rejects if the command cannot be started at all. */
  async start(spec: ChildSpec): Promise<ChildProcess> {
    if (this.stopping) throw new Error(`not starting ${spec.name}: shutting down`);
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    const quiet = spec.quietWhenStopping ?? false;
    this.pipe(spec.name, child.stdout, quiet);
    this.pipe(spec.name, child.stderr, quiet);
    const exited = new Promise<ChildExit>((resolve) => {
      child.once('exit', (code, signal) => {
        const exit = { name: spec.name, code, signal };
        if (!this.stopping) this.reportExit?.(exit);
        resolve(exit);
      });
    });
    this.running.push({ name: spec.name, process: child, exited });
    return child;
  }

  /**
   * Sends SIGTERM to every child still running, newest first, waiting for each (SIGKILL after `graceMs`),
   * so the app stops before the servers it talks to.
   */
  async stopAll(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const child of [...this.running].reverse()) {
      if (child.process.exitCode !== null || child.process.signalCode !== null) continue;
      child.process.kill('SIGTERM');
      const timer = setTimeout(() => child.process.kill('SIGKILL'), graceMs);
      await child.exited;
      clearTimeout(timer);
    }
  }

  private pipe(name: string, stream: Readable, quietWhenStopping: boolean): void {
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    lines.on('line', (line) => {
      if (!(quietWhenStopping && this.stopping)) this.out(`[${name}] ${line}`);
    });
  }
}
