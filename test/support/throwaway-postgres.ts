import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { appendFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { exec, isRoot } from '../../dev';
import { freePort } from './ports';

/** A Postgres cluster of a test's own, which the test may stop and start (the shared test cluster never is). */
export interface ThrowawayPostgres {
  /** Superuser URL of the cluster's `postgres` database (trust auth, loopback only). */
  readonly url: string;
  readonly port: number;
  /** `pg_ctl stop -m fast`: open sessions are cut, as in a crash or a restart. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the cluster and deletes its files. */
  destroy(): Promise<void>;
}

const OS_USER = 'postgres';

/**
 * `initdb` in a temporary folder and `pg_ctl start` on a free port, run as the `postgres` OS user when we are
 * root (as `dev/postgres.ts` does for the development cluster). Takes a few seconds.
 */
export async function throwawayPostgres(): Promise<ThrowawayPostgres> {
  const bin = await postgresBin();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'turnflow-pg-'));
  const data = path.join(dir, 'data');
  if (isRoot()) await run('chown', ['-R', `${OS_USER}:`, dir]);
  const port = await freePort();
  await runPg(bin, 'initdb', [
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
    `\nlisten_addresses = '127.0.0.1'\nport = ${port}\nunix_socket_directories = ''\nfsync = off\nsynchronous_commit = off\n`,
  );
  const pgCtl = (args: string[]) => runPg(bin, 'pg_ctl', [...args, '-D', data]);
  const cluster: ThrowawayPostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start: () => pgCtl(['start', '--wait', '--timeout=60', '-l', path.join(dir, 'postgres.log')]),
    stop: () => pgCtl(['stop', '--wait', '-m', 'fast']),
    async destroy() {
      await pgCtl(['stop', '--wait', '-m', 'immediate']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  await cluster.start();
  return cluster;
}

async function postgresBin(): Promise<string> {
  if (process.env['PG_BIN_DIR']) return process.env['PG_BIN_DIR'];
  const versions = (await readdir('/usr/lib/postgresql').catch(() => [] as string[])).filter((v) => /^\d+$/.test(v));
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined) throw new Error('no Postgres binaries under /usr/lib/postgresql (set PG_BIN_DIR)');
  return path.join('/usr/lib/postgresql', newest, 'bin');
}

async function runPg(bin: string, tool: string, args: string[]): Promise<void> {
  const program = path.join(bin, tool);
  if (isRoot()) await run('runuser', ['-u', OS_USER, '--', program, ...args]);
  else await run(program, args);
}

async function run(command: string, args: string[]): Promise<void> {
  // pg_ctl start leaves the postmaster behind holding inherited pipes: resolve on exit.
  const result = await exec(command, args, { resolveOnExit: true, cwd: os.tmpdir() });
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.code}): ${(result.stderr || result.stdout).trim()}`);
  }
}
