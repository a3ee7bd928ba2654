import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stablePort } from './ports';
import { chownForPostgres, initPostgresData, runPostgresTool } from './postgres';

/** A Postgres cluster of its own, which its owner may stop and start (the shared development cluster never is). */
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

/**
 * `initdb` in a folder of its own (under `parent`, default the OS temp folder) and `pg_ctl start` on a free port,
 * as the `postgres` OS user when we are root, like the development cluster. Takes a few seconds. Its log is
 * `postgres.log` in that folder.
 */
export async function throwawayPostgres(opts: { parent?: string } = {}): Promise<ThrowawayPostgres> {
  const parent = opts.parent ?? os.tmpdir();
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(path.join(parent, 'turnflow-pg-'));
  const data = path.join(dir, 'data');
  await chownForPostgres(dir);
  const port = await stablePort();
  await initPostgresData(data, port, ["unix_socket_directories = ''"]);
  const pgCtl = (args: string[]) => check('pg_ctl', [...args, '-D', data]);
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

async function check(tool: string, args: string[]): Promise<void> {
  const result = await runPostgresTool(tool, args);
  if (result.code !== 0) {
    throw new Error(`${tool} ${args.join(' ')} failed (${result.code}): ${(result.stderr || result.stdout).trim()}`);
  }
}
