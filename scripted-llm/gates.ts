import { abortError } from './abort';

/**
 * Named latches that hold scripted streams. A released gate stays open until `reset()`, so a
 * release that races ahead of the stream never deadlocks a test.
 */
export class Gates {
  private readonly released = new Set<string>();
  private readonly reached = new Set<string>();
  private readonly openWaiters = new Map<string, Set<() => void>>();
  private readonly reachWaiters = new Map<string, Set<() => void>>();

  /** Opens `name` for every stream waiting on it now or later. */
  release(name: string): void {
    this.released.add(name);
    this.flush(this.openWaiters, name);
  }

  /** Resolves once some stream has arrived at `name` (at once if one already has). */
  whenReached(name: string): Promise<void> {
    if (this.reached.has(name)) return Promise.resolve();
    return new Promise((resolve) => add(this.reachWaiters, name, resolve));
  }

  /**
   * Waits until `name` is released.
   * @throws the signal's reason when the signal aborts first.
   */
  wait(name: string, signal: AbortSignal): Promise<void> {
    this.reached.add(name);
    this.flush(this.reachWaiters, name);
    if (this.released.has(name)) return Promise.resolve();
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const onOpen = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.openWaiters.get(name)?.delete(onOpen);
        reject(abortError(signal));
      };
      add(this.openWaiters, name, onOpen);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Closes every gate and forgets which were reached; pending `whenReached` promises stay pending. */
  reset(): void {
    this.released.clear();
    this.reached.clear();
  }

  private flush(waiters: Map<string, Set<() => void>>, name: string): void {
    const pending = waiters.get(name);
    waiters.delete(name);
    for (const wake of pending ?? []) wake();
  }
}

function add(waiters: Map<string, Set<() => void>>, name: string, wake: () => void): void {
  const set = waiters.get(name) ?? new Set();
  set.add(wake);
  waiters.set(name, set);
}
