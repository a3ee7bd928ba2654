import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { appendFile, mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chownForPostgres, runPostgresTool, searchAttributeCliArgs, waitForTemporal } from '../dev';

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
export async function waitForPort(port: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listened on port ${port} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** A child process of the run, its output appended to a log file. */
export class Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    opts: { env?: NodeJS.ProcessEnv; cwd?: string; logFile: string },
  ) {
    this.child = spawn(command, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log = createWriteStream(opts.logFile, { flags: 'a' });
    this.child.stdout?.pipe(log, { end: false });
    this.child.stderr?.pipe(log, { end: false });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    void this.exited.then(({ code, signal }) =>
      log.end(`[chaos] ${name} (pid ${this.pid}) exited: ${signal ?? code}\n`),
    );
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `graceMs`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A throwaway Postgres cluster in `dir`, on its own port, that the run can stop and start at will. */
export class ScratchPostgres {
  private constructor(
    private readonly data: string,
    private readonly log: string,
    readonly port: number,
  ) {}

  static async create(dir: string): Promise<ScratchPostgres> {
    const port = await freePort();
    const pgDir = path.join(dir, 'pg');
    await mkdir(pgDir, { recursive: true });
    await chownForPostgres(dir);
    const data = path.join(pgDir, 'data');
    await check('initdb', [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=trust',
      '--encoding=UTF8',
      '--locale=C',
      '--no-instructions',
    ]);
    await appendFile(
      path.join(data, 'postgresql.conf'),
      [
        '',
        "listen_addresses = '127.0.0.1'",
        `port = ${port}`,
        `unix_socket_directories = '${pgDir}'`,
        'max_connections = 300',
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        '',
      ].join('\n'),
    );
    const cluster = new ScratchPostgres(data, path.join(pgDir, 'postgres.log'), port);
    await cluster.start();
    return cluster;
  }

  get adminUrl(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async start(): Promise<void> {
    await check('pg_ctl', ['start', '--wait', '--timeout=60', '-D', this.data, '-l', this.log]);
  }

  /** Fast shutdown: every session is disconnected, as in a real restart. */
  async stop(): Promise<void> {
    await check('pg_ctl', ['stop', '--wait', '-m', 'fast', '-D', this.data]);
  }
}

async function check(tool: string, args: string[]): Promise<void> {
  const result = await runPostgresTool(tool, args);
  if (result.code !== 0) throw new Error(`${tool} failed: ${(result.stderr || result.stdout).trim()}`);
}

/** A Temporal dev server on its own ports whose state (a SQLite file) survives its restarts. */
export class TemporalDevServer {
  private proc: Proc | undefined;

  private constructor(
    private readonly cli: string,
    private readonly args: string[],
    private readonly logFile: string,
    readonly address: string,
  ) {}

  static async create(cli: string, dir: string): Promise<TemporalDevServer> {
    const [grpc, http, metrics] = [await freePort(), await freePort(), await freePort()];
    const args = [
      'server',
      'start-dev',
      '--headless',
      '--db-filename',
      path.join(dir, 'temporal.sqlite'),
      '--port',
      String(grpc),
      '--http-port',
      String(http),
      '--metrics-port',
      String(metrics),
      '--log-level',
      'error',
      ...searchAttributeCliArgs(),
    ];
    const server = new TemporalDevServer(cli, args, path.join(dir, 'temporal.log'), `127.0.0.1:${grpc}`);
    await server.start();
    return server;
  }

  async start(): Promise<void> {
    const proc = new Proc('temporal', this.cli, this.args, { logFile: this.logFile });
    this.proc = proc;
    await waitForTemporal(this.address, 60_000, () => (proc.running ? undefined : 'the dev server exited'));
  }

  async stop(): Promise<void> {
    await this.proc?.stop('SIGTERM');
  }
}
