/** One `turnflow` subcommand. */
export interface Command {
  /** One line for `turnflow --help`. */
  readonly summary: string;
  /** Usage text printed on `--help` and after a {@link UsageError}. */
  readonly usage: string;
  /** Runs the command with the arguments after its name; resolves to the process exit code. */
  run(args: string[]): Promise<number>;
}

/** Exit code for bad usage (unknown command or option, missing or unreadable file). */
export const EXIT_USAGE = 2;

/** Thrown by a command when its arguments are wrong; the entry point prints it with the usage and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
