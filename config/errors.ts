/**
 * Thrown when a process's environment cannot run it (worker, gateway): names every bad variable, never echoing a
 * secret value. Thrown at start-up, before the process takes any work.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
