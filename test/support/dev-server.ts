import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveTemporalCli, searchAttributeCliArgs, waitForTemporal } from '../../dev';
import { freePort } from './ports';

/** A Temporal dev server of a test's own, which it may stop and start again on the same SQLite file. */
export interface RestartableDevServer {
  /** `127.0.0.1:<port>`, the same across restarts. */
  readonly address: string;
  /** Stops the server (SIGTERM, SIGKILL after 10 s); its state stays in the database file. */
  stop(): Promise<void>;
  /** Starts it again with the same database file and port, and waits until it answers. */
  start(): Promise<void>;
  /** Stops it and deletes its files. */
  destroy(): Promise<void>;
}

/** `temporal server start-dev --db-filename <tmp>/temporal.sqlite` on a free port, headless, with our search attributes. */
export async function restartableDevServer(): Promise<RestartableDevServer> {
  const cli = await resolveTemporalCli();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'turnflow-temporal-'));
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    path.join(dir, 'temporal.sqlite'),
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--headless',
    '--log-level',
    'error',
    ...searchAttributeCliArgs(),
  ];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const server: RestartableDevServer = {
    address,
    async start() {
      const started = spawn(cli, args, { stdio: 'ignore' });
      child = started;
      exited = new Promise((resolve) => started.once('exit', () => resolve()));
      await waitForTemporal(address, 60_000, () => (started.exitCode !== null ? 'the dev server exited' : undefined));
    },
    async stop() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      running.kill('SIGTERM');
      const timer = setTimeout(() => running.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
    async destroy() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
