import { appendFileSync } from 'node:fs';
import path from 'node:path';
import Mocha from 'mocha';

/**
 * Mocha's spec reporter, plus the seconds each test file took, appended as one JSON line to the file named by
 * `TURNFLOW_TEST_TIMINGS` (the parallel runner, dev/test.ts, balances its processes with them).
 */
class TimedSpec extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    const out = process.env['TURNFLOW_TEST_TIMINGS'];
    if (!out) return;
    const started = new Map<Mocha.Suite, number>();
    const seconds: Record<string, number> = {};
    runner.on('suite', (suite) => {
      if (suite.file && suite.parent?.root) started.set(suite, Date.now());
    });
    runner.on('suite end', (suite) => {
      const at = started.get(suite);
      if (at === undefined || !suite.file) return;
      const file = path.relative(process.cwd(), suite.file);
      seconds[file] = (seconds[file] ?? 0) + (Date.now() - at) / 1000;
    });
    runner.once('end', () => appendFileSync(out, JSON.stringify(seconds) + '\n'));
  }
}

export = TimedSpec;
