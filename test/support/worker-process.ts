import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { testWorkflowBundleFile } from '../../dev/test-bundle';

const ROOT = path.resolve(__dirname, '..', '..');

/** A child process (the real worker entry point, `worker/main.ts`, or another), with its output kept for assertions. */
export interface WorkerProcess {
  readonly child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Whether it is still running. */
  alive(): boolean;
  /** Resolves once its output matches `pattern`; rejects if it exits first or after `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  kill(): Promise<void>;
}

/** Where the worker finds its dependencies. */
export interface WorkerProcessEnv {
  temporalAddress: string;
  databaseUrl: string;
  taskQueue: string;
  llmBaseUrl: string;
  model: string;
  /** Extra variables (e.g. `TURNFLOW_LLM_IDLE_TIMEOUT_MS`). */
  extra?: Record<string, string>;
  /** A TypeScript entry point of its own that runs the worker process (tools of a test's). @default worker/main.ts */
  script?: string;
  /** Load the run's prebuilt workflow bundle when `npm test` made one (see dev/test-bundle.ts). @default true */
  prebuiltBundle?: boolean;
}

export function spawnWorkerProcess(env: WorkerProcessEnv): WorkerProcess {
  const bundle = env.prebuiltBundle === false ? undefined : testWorkflowBundleFile();
  return spawnWatched([env.script ?? path.join(ROOT, 'worker', 'main.ts')], {
    cwd: ROOT,
    tsx: true,
    env: {
      TEMPORAL_ADDRESS: env.temporalAddress,
      TURNFLOW_TASK_QUEUE: env.taskQueue,
      DATABASE_URL: env.databaseUrl,
      OPENAI_BASE_URL: env.llmBaseUrl,
      OPENAI_API_KEY: 'test-key',
      OPENAI_MODEL: env.model,
      LOG_LEVEL: 'info',
      ...(bundle ? { TURNFLOW_WORKFLOW_BUNDLE: bundle } : {}),
      ...env.extra,
    },
  });
}

/**
 * A Node process (a script and its arguments) with its output kept for assertions; `env` is added to this
 * process's environment, `tsx` runs TypeScript sources.
 */
export function spawnWatched(
  args: string[],
  opts: { cwd: string; env?: Record<string, string>; tsx?: boolean },
): WorkerProcess {
  const child = spawn(process.execPath, [...(opts.tsx ? ['--import', 'tsx'] : []), ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  exited.then(
    () => listeners.forEach((l) => l()),
    () => undefined,
  );

  return {
    child,
    output: () => output,
    alive: () => child.exitCode === null && child.signalCode === null,
    waitForOutput(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => done(new Error(`no ${pattern} in the output of ${args.join(' ')}:\n${output}`)),
          timeoutMs,
        );
        const check = () => {
          if (pattern.test(output)) done();
          else if (child.exitCode !== null || child.signalCode !== null) {
            done(
              new Error(
                `${args.join(' ')} exited (${child.exitCode ?? child.signalCode}) before ${pattern}:\n${output}`,
              ),
            );
          }
        };
        const done = (err?: Error) => {
          clearTimeout(timer);
          listeners.delete(check);
          if (err) reject(err);
          else resolve();
        };
        listeners.add(check);
        check();
      });
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
