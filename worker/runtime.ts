import { Runtime, type LogLevel, type LogMetadata, type Logger as TemporalLogger } from '@temporalio/worker';
import type { Logger } from 'pino';

/** What the SDK's core logs when it fails a workflow task (a non-determinism error or a bug in workflow code). */
const FAILING_TASK = 'Failing workflow task';
/** Longest failure text copied into our log (the SDK's own message; never user text, which stays out of Temporal). */
const MAX_FAILURE_CHARS = 2_000;

/**
 * Installs the Temporal runtime of a worker process with the SDK's logs (its Rust core's included) going to the
 * process's own logger, so one log stream holds everything. A failing workflow task (non-determinism, a bug) is
 * logged as an error with `alert: 'workflow_task_failing'` and the run id: Temporal retries such a task for ever and
 * the workflow makes no progress until an operator acts (docs/operating.md), so it must not pass as a warning.
 * With `sdkMetricsBindAddress` (`host:port`) the SDK serves its own Prometheus metrics there (task latencies, slots,
 * pollers, sticky cache, `temporal_workflow_task_execution_failed{failure_reason}` …).
 * Call once, before the process's first Temporal connection; a runtime already installed is kept.
 */
export function installWorkerRuntime(logger: Logger, sdkMetricsBindAddress?: string): void {
  try {
    Runtime.install({
      logger: new ForwardedLogger(logger.child({ component: 'temporal' })),
      telemetryOptions: {
        logging: { forward: {}, filter: { core: 'WARN', other: 'ERROR' } },
        ...(sdkMetricsBindAddress ? { metrics: { prometheus: { bindAddress: sdkMetricsBindAddress } } } : {}),
      },
    });
  } catch (err: unknown) {
    logger.warn(
      { err: (err as Error).message },
      'the Temporal runtime was installed before: its logs stay where they go',
    );
  }
}

/** The SDK's logger interface over pino, escalating failed workflow tasks. */
export class ForwardedLogger implements TemporalLogger {
  constructor(private readonly logger: Logger) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    if (message.startsWith(FAILING_TASK)) {
      const failure = String(meta?.['failure'] ?? '').slice(0, MAX_FAILURE_CHARS);
      this.logger.error(
        {
          alert: 'workflow_task_failing',
          runId: meta?.['runId'],
          nondeterminism: /nondeterminism|TMPRL1100/i.test(failure),
          failure,
        },
        'a workflow task failed: Temporal retries it and the workflow makes no progress until it succeeds',
      );
      return;
    }
    const fields = { ...meta };
    switch (level) {
      case 'TRACE':
        this.logger.trace(fields, message);
        break;
      case 'DEBUG':
        this.logger.debug(fields, message);
        break;
      case 'INFO':
        this.logger.info(fields, message);
        break;
      case 'WARN':
        this.logger.warn(fields, message);
        break;
      default:
        this.logger.error(fields, message);
    }
  }

  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}
