/**
 * Global teardown registry. Kept free of imports so `hooks.ts` (loaded by every mocha run) stays cheap: only
 * tests that create shared infrastructure load the modules that start it, and they register its teardown here.
 */
const steps: (() => Promise<void>)[] = [];

/** Runs `step` in mocha's global teardown, after every test (later registrations run first). */
export function registerGlobalTeardown(step: () => Promise<void>): void {
  steps.push(step);
}

/** Runs and forgets every registered step, newest first; throws one error naming every failure. */
export async function runGlobalTeardown(): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps.splice(0).reverse()) {
    try {
      await step();
    } catch (err: unknown) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, 'global teardown failed');
}
