import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stablePort } from './ports';
import { searchAttributeCliArgs } from './search-attributes';
import { devServerDynamicConfigArgs, resolveTemporalCli } from './temporal-cli';
import { waitForTemporal } from './temporal-server';

/** A Temporal dev server of its own, which its owner may stop and start again on the same SQLite file. */
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

/**
 * `temporal server start-dev --db-filename <dir>/temporal.sqlite` on free ports, headless, with our search
 * attributes; `dir` is made under `parent` (default the OS temp folder) and holds the server's output in
 * `temporal.log`. `extraArgs` are appended to the command line (the bench passes `--dynamic-config-value …` there).
 */
export async function restartableDevServer(
  opts: {
    parent?: string;
    extraArgs?: readonly string[];
    /** Dynamic config values (`key=value`) instead of `DEV_SERVER_DYNAMIC_CONFIG`. */
    dynamicConfig?: readonly string[];
  } = {},
): Promise<RestartableDevServer> {
  const cli = await resolveTemporalCli();
  const parent = opts.parent ?? os.tmpdir();
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(path.join(parent, 'turnflow-temporal-'));
  const [port, httpPort] = [await stablePort(), await stablePort()];
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
    // Its default is the gRPC port + 1000, which another server may hold.
    '--http-port',
    String(httpPort),
    '--headless',
    '--log-level',
    'error',
    ...searchAttributeCliArgs(),
    ...devServerDynamicConfigArgs(opts.dynamicConfig),
    ...(opts.extraArgs ?? []),
  ];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const server: RestartableDevServer = {
    address,
    async start() {
      const log = createWriteStream(path.join(dir, 'temporal.log'), { flags: 'a' });
      const started = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      started.stdout.pipe(log, { end: false });
      started.stderr.pipe(log, { end: false });
      started.once('exit', () => log.end());
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
