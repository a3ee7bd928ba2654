import { setTimeout as sleep } from 'node:timers/promises';

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** Told before each pause: what is awaited, the attempt that failed, its error and how long until the next. */
  onWait: (info: { what: string; attempt: number; delayMs: number; err: unknown }) => void;
  /** Errors worth waiting out (a dependency that is down or starting); anything else is thrown at once. @default every error */
  isTransient?: (err: unknown) => boolean;
  /** Ends the wait: the pause rejects with the signal's reason. */
  signal?: AbortSignal;
  /** @default 500 */
  initialDelayMs?: number;
  /** @default 10000 */
  maxDelayMs?: number;
}

/**
 * Runs `attempt` until it succeeds, pausing with exponential backoff after each transient failure. What a
 * service does at start-up while Postgres or Temporal is not there yet: wait, say what it waits for, go on.
 */
export async function waitFor<T>(what: string, attempt: () => Promise<T>, options: WaitForOptions): Promise<T> {
  let delayMs = options.initialDelayMs ?? 500;
  const maxDelayMs = options.maxDelayMs ?? 10_000;
  for (let n = 1; ; n += 1) {
    options.signal?.throwIfAborted();
    try {
      return await attempt();
    } catch (err: unknown) {
      if (options.isTransient && !options.isTransient(err)) throw err;
      options.onWait({ what, attempt: n, delayMs, err });
      await sleep(delayMs, undefined, options.signal ? { signal: options.signal } : {});
      delayMs = Math.min(delayMs * 2, maxDelayMs);
    }
  }
}

/**
 * An AbortSignal that fires on the first SIGINT or SIGTERM. Temporal's runtime installs its own handlers,
 * which replace the default "exit on signal"; a service still waiting for its dependencies must stop anyway.
 */
export function signalOnShutdown(): AbortSignal {
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => controller.abort(new Error(`stopped by ${signal}`));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return controller.signal;
}
