import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { exec, execOrThrow, isExecutable, isRoot, whichOnPath } from './exec';
import { PG_BASE_DIR } from './paths';

/** Data directory of the private development cluster (git-ignored). */
export const LOCAL_PG_DATA = path.join(PG_BASE_DIR, 'pg');

/**
 * Port of the private development cluster; fixed so `npm start` and tests find the same one.
 * `TURNFLOW_PG_PORT` overrides it (e.g. for a second clone on the same machine).
 * @default 55432
 */
export const LOCAL_PG_PORT = Number(process.env['TURNFLOW_PG_PORT'] ?? 55432);

/** Name of the application database the bootstrap creates on the private cluster. */
export const APP_DATABASE = 'turnflow';

/** The OS user that runs the cluster when we are root (Postgres refuses to run as root). */
const PG_OS_USER = 'postgres';

/** Unix socket and server log; a folder of its own because, when we are root, it must belong to `postgres`. */
const RUN_DIR = path.join(PG_BASE_DIR, 'pg-run');
const LOG_FILE = path.join(RUN_DIR, 'postgres.log');
/** Unix socket paths are limited to ~107 bytes; past that, TCP only. */
const SOCKET_DIR = RUN_DIR.length + `/.s.PGSQL.${LOCAL_PG_PORT}`.length < 100 ? RUN_DIR : '';
const ADMIN_URL = `postgres://postgres@127.0.0.1:${LOCAL_PG_PORT}/postgres`;

/** Thrown when the local cluster cannot be set up, started or reached. */
export class LocalPostgresError extends Error {
  override readonly name = 'LocalPostgresError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Result of {@link ensureLocalPostgres}. */
export interface LocalPostgres {
  /** A superuser URL for the server's `postgres` database, for creating and dropping databases. */
  adminUrl: string;
  /** Whether this call started the private cluster (so its caller may stop it again). */
  startedHere: boolean;
  /** Whether `adminUrl` came from `DATABASE_URL` rather than the private cluster. */
  external: boolean;
}

/** Options for {@link ensureLocalPostgres}. */
export interface EnsureLocalPostgresOptions {
  /**
   * Called with one short line per thing installed or created.
   * @default console.log
   */
  log?: (line: string) => void;
}

/**
 * Makes a Postgres server available. With `DATABASE_URL` set it returns that URL and touches nothing.
 * Otherwise it uses a private cluster under `.data/pg` listening on 127.0.0.1:{@link LOCAL_PG_PORT}: installs
 * Debian's server package if the binaries are missing and we are root, runs `initdb` once, starts the
 * cluster if it is not running and waits until it accepts connections. Safe to call concurrently.
 *
 * @throws {@link LocalPostgresError} when the binaries are missing or the cluster does not come up.
 */
export async function ensureLocalPostgres(options: EnsureLocalPostgresOptions = {}): Promise<LocalPostgres> {
  const log = options.log ?? ((line: string) => console.log(line));
  const external = process.env['DATABASE_URL'];
  if (external) return { adminUrl: external, startedHere: false, external: true };

  if (await isOurClusterUp()) return { adminUrl: ADMIN_URL, startedHere: false, external: false };
  const bin = await postgresBinDir(log);
  await mkdir(PG_BASE_DIR, { recursive: true });
  if (!(await exists(path.join(LOCAL_PG_DATA, 'PG_VERSION')))) await initCluster(log);
  await mkdir(RUN_DIR, { recursive: true });
  await chownForPostgres(RUN_DIR);
  const start = await runPg(bin, 'pg_ctl', [
    'start',
    '--wait',
    '--timeout=60',
    '-D',
    LOCAL_PG_DATA,
    '-l',
    LOG_FILE,
    '-o',
    `-p ${LOCAL_PG_PORT} -k '${SOCKET_DIR}'`,
  ]);
  if (start.code !== 0) {
    // A concurrent caller may have started it between our check and our start.
    if (await isOurClusterUp()) return { adminUrl: ADMIN_URL, startedHere: false, external: false };
    const hint = isRoot()
      ? ` (as root the cluster runs as '${PG_OS_USER}', who must be able to enter ${PG_BASE_DIR})`
      : '';
    throw new LocalPostgresError(
      `pg_ctl could not start the cluster in ${LOCAL_PG_DATA}${hint}; see ${LOG_FILE}: ${(start.stderr || start.stdout).trim()}`,
    );
  }
  if (!(await isOurClusterUp())) {
    throw new LocalPostgresError(
      `the cluster in ${LOCAL_PG_DATA} started but does not answer on port ${LOCAL_PG_PORT}`,
    );
  }
  return { adminUrl: ADMIN_URL, startedHere: true, external: false };
}

/**
 * Stops the private cluster (fast shutdown: open sessions are disconnected). A no-op when `DATABASE_URL` is
 * set or the cluster is not running.
 */
export async function stopLocalPostgres(): Promise<void> {
  if (process.env['DATABASE_URL']) return;
  if (!(await exists(path.join(LOCAL_PG_DATA, 'postmaster.pid')))) return;
  const bin = await postgresBinDir(() => undefined, false);
  const result = await runPg(bin, 'pg_ctl', ['stop', '--wait', '-m', 'fast', '-D', LOCAL_PG_DATA]);
  if (result.code !== 0 && (await isOurClusterUp())) {
    throw new LocalPostgresError(`pg_ctl could not stop the cluster: ${(result.stderr || result.stdout).trim()}`);
  }
}

/**
 * Where the bootstrap notes that it started the cluster (with the postmaster's pid), so that the `npm start`
 * it runs before (`prestart`) can stop on Ctrl-C a cluster it did not start itself but its invocation did.
 */
const STARTED_BY_BOOTSTRAP_FILE = path.join(PG_BASE_DIR, 'pg-started-by-bootstrap');

/**
 * Notes whether the bootstrap just started the private cluster. Called by every bootstrap: a cluster that was
 * already running clears any older note, so a note always describes the latest bootstrap.
 */
export async function noteBootstrapStart(startedHere: boolean): Promise<void> {
  if (process.env['DATABASE_URL']) return;
  const pid = startedHere ? await postmasterPid() : undefined;
  if (pid === undefined) await rm(STARTED_BY_BOOTSTRAP_FILE, { force: true });
  else await writeFile(STARTED_BY_BOOTSTRAP_FILE, `${pid}\n`);
}

/**
 * Whether the last bootstrap started the cluster that is running now (same postmaster pid); consumes the note,
 * so only one caller takes ownership.
 */
export async function takeBootstrapStart(): Promise<boolean> {
  const noted = await readFile(STARTED_BY_BOOTSTRAP_FILE, 'utf8').catch(() => undefined);
  if (noted === undefined) return false;
  await rm(STARTED_BY_BOOTSTRAP_FILE, { force: true });
  const running = await postmasterPid();
  return running !== undefined && String(running) === noted.trim();
}

/** The pid in the cluster's `postmaster.pid` (its first line), if the cluster is running. */
async function postmasterPid(): Promise<number | undefined> {
  const text = await readFile(path.join(LOCAL_PG_DATA, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number(text?.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Creates database `name` on the server at `adminUrl` unless it exists; resolves `true` if it created it. */
export async function createDatabase(adminUrl: string, name: string): Promise<boolean> {
  return withAdmin(adminUrl, async (client) => {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      return true;
    } catch (err: unknown) {
      // 42P04 duplicate_database, 23505 unique_violation: a concurrent caller created it first.
      const code = (err as { code?: unknown }).code;
      if (code !== '42P04' && code !== '23505') throw err;
      return false;
    }
  });
}

/**
 * Drops database `name` on the server at `adminUrl` if it exists. Sessions still connected get up to `graceMs` to
 * close first, then are disconnected: `pg.Pool.end()` resolves once it has asked its connections to close, not
 * once they are closed, and a session the drop terminates meanwhile answers its client with an error ("terminating
 * connection due to administrator command") that the ended pool no longer listens for, an uncaught exception.
 */
export async function dropDatabase(adminUrl: string, name: string, graceMs = 2_000): Promise<void> {
  await withAdmin(adminUrl, async (client) => {
    const until = Date.now() + graceMs;
    for (;;) {
      const { rows } = await client.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [name],
      );
      if (rows[0]!.n === 0 || Date.now() >= until) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  });
}

/** `url` with its database name replaced by `database`. */
export function databaseUrlFor(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

async function withAdmin<T>(adminUrl: string, body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  // A dropped connection must fail the statement, not the process (an 'error' event without a listener throws).
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

/** Whether a server answers on our port and it is the cluster in {@link LOCAL_PG_DATA}. */
async function isOurClusterUp(): Promise<boolean> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 });
  // An idle error after connect failure must not crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch {
    return false;
  }
  try {
    const { rows } = await client.query<{ data_directory: string }>('SHOW data_directory');
    const actual = rows[0]?.data_directory ?? '';
    if ((await realpath(actual).catch(() => actual)) !== (await realpath(LOCAL_PG_DATA).catch(() => LOCAL_PG_DATA))) {
      throw new LocalPostgresError(
        `port ${LOCAL_PG_PORT} is taken by another Postgres cluster (${actual}); stop it or set DATABASE_URL`,
      );
    }
    return true;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * `initdb` of a cluster in `dataDir` (owned by the `postgres` OS user when we are root): loopback only on `port`,
 * trust auth, throughput over durability. `extraConf` lines are appended to its `postgresql.conf`.
 */
export async function initPostgresData(dataDir: string, port: number, extraConf: string[] = []): Promise<void> {
  const initdb = await runPostgresTool('initdb', [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '--auth=trust',
    '--encoding=UTF8',
    '--locale=C',
    '--no-instructions',
  ]);
  if (initdb.code !== 0) {
    throw new LocalPostgresError(`initdb failed (code ${initdb.code}): ${(initdb.stderr || initdb.stdout).trim()}`);
  }
  await appendFile(
    path.join(dataDir, 'postgresql.conf'),
    [
      '',
      '# turnflow cluster: loopback only, trust auth, throughput over durability.',
      "listen_addresses = '127.0.0.1'",
      `port = ${port}`,
      'max_connections = 300',
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      ...extraConf,
      '',
    ].join('\n'),
  );
}

async function initCluster(log: (line: string) => void): Promise<void> {
  // initdb into a private folder and rename it into place, so concurrent callers never share a half-made cluster.
  const staging = path.join(PG_BASE_DIR, `.pg-init-${randomUUID()}`);
  await mkdir(staging, { mode: 0o700 });
  await chownForPostgres(staging);
  try {
    await initPostgresData(staging, LOCAL_PG_PORT);
    try {
      await rename(staging, LOCAL_PG_DATA);
      log(`created a Postgres cluster in ${path.relative(process.cwd(), LOCAL_PG_DATA)} (port ${LOCAL_PG_PORT})`);
    } catch (err: unknown) {
      if (!(await exists(path.join(LOCAL_PG_DATA, 'PG_VERSION')))) throw err;
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * Folder with `initdb` and `pg_ctl`: `PG_BIN_DIR`, else Debian's newest `/usr/lib/postgresql/N/bin`, else `PATH`.
 * Installs Debian's `postgresql` package when none is found, we are root and apt-get exists.
 */
async function postgresBinDir(log: (line: string) => void, install = true): Promise<string> {
  const found = await findPostgresBinDir();
  if (found) return found;
  if (install && isRoot() && (await whichOnPath('apt-get'))) {
    log('installing Postgres (apt-get install postgresql) ...');
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    await execOrThrow('apt-get', ['update', '-qq'], { env });
    await execOrThrow('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'postgresql'], { env });
    const installed = await findPostgresBinDir();
    if (installed) return installed;
  }
  throw new LocalPostgresError(
    'Postgres server binaries (initdb, pg_ctl) not found: install Postgres (Debian: apt-get install postgresql), ' +
      'set PG_BIN_DIR to the folder holding them, or set DATABASE_URL to an existing server',
  );
}

async function findPostgresBinDir(): Promise<string | undefined> {
  const fromEnv = process.env['PG_BIN_DIR'];
  if (fromEnv) return fromEnv;
  const debian = '/usr/lib/postgresql';
  const versions = await readdir(debian).catch(() => [] as string[]);
  for (const version of versions.filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))) {
    const bin = path.join(debian, version, 'bin');
    if (await isExecutable(path.join(bin, 'pg_ctl'))) return bin;
  }
  const onPath = await whichOnPath('pg_ctl');
  return onPath ? path.dirname(onPath) : undefined;
}

/**
 * Runs one of the server's programs (`initdb`, `pg_ctl`, …) as the `postgres` OS user when we are root, installing
 * the server first if it is missing. For clusters other than the private one (e.g. the chaos run's throwaway one).
 */
export async function runPostgresTool(
  tool: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return runPg(await postgresBinDir(() => undefined), tool, args, os.tmpdir());
}

/** Runs a Postgres binary, as the `postgres` OS user when we are root. */
async function runPg(
  bin: string,
  tool: string,
  args: string[],
  cwd = PG_BASE_DIR,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const program = path.join(bin, tool);
  // pg_ctl leaves the postmaster running; resolve on exit so its inherited pipes cannot hold us.
  const options = { resolveOnExit: true, cwd };
  if (!isRoot()) return exec(program, args, options);
  return exec('runuser', ['-u', PG_OS_USER, '--', program, ...args], options);
}

/** Gives `dir` to the `postgres` OS user when we are root (the server refuses to run as root). */
export async function chownForPostgres(dir: string): Promise<void> {
  if (!isRoot()) return;
  const result = await exec('chown', ['-R', `${PG_OS_USER}:`, dir]);
  if (result.code !== 0) {
    throw new LocalPostgresError(
      `running as root, the cluster must belong to the '${PG_OS_USER}' OS user, but chown failed: ${result.stderr.trim()}`,
    );
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
