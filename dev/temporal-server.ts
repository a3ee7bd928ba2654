import path from 'node:path';
import { Connection } from '@temporalio/client';
import { DATA_DIR } from './paths';
import { searchAttributeCliArgs } from './search-attributes';
import { devServerDynamicConfigArgs } from './temporal-cli';

/** Where `npm start`'s dev server keeps its state, so runs survive restarts. */
export const DEV_SERVER_DB_FILE = path.join(DATA_DIR, 'temporal.sqlite');

/** Ports of `npm start`'s dev server (Temporal's own defaults). */
export const DEV_SERVER_PORTS = { grpc: 7233, ui: 8233 } as const;

/**
 * Arguments for `temporal server start-dev` with persistent state and the project's search attributes; with
 * `codecEndpoint`, its UI decodes payloads through that codec server.
 */
export function devServerArgs(opts: { codecEndpoint?: string } = {}): string[] {
  return [
    'server',
    'start-dev',
    '--db-filename',
    DEV_SERVER_DB_FILE,
    '--port',
    String(DEV_SERVER_PORTS.grpc),
    '--ui-port',
    String(DEV_SERVER_PORTS.ui),
    '--log-level',
    'warn',
    ...searchAttributeCliArgs(),
    ...devServerDynamicConfigArgs(),
    ...(opts.codecEndpoint ? ['--ui-codec-endpoint', opts.codecEndpoint] : []),
  ];
}

/** Whether a Temporal frontend answers at `address` within `timeoutMs`. */
export async function isTemporalReachable(address: string, timeoutMs = 1000): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: timeoutMs });
    await connection.workflowService.getSystemInfo({});
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/**
 * Polls `address` until Temporal answers.
 * @throws Error after `timeoutMs`, or as soon as `abandon()` returns a reason (e.g. the server process died).
 */
export async function waitForTemporal(
  address: string,
  timeoutMs = 60_000,
  abandon: () => string | undefined = () => undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await isTemporalReachable(address)) return;
    const reason = abandon();
    if (reason) throw new Error(`Temporal at ${address} did not come up: ${reason}`);
    if (Date.now() > deadline) throw new Error(`Temporal at ${address} did not answer within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
