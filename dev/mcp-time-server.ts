import { randomUUID } from 'node:crypto';
import { access, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execOrThrow, isExecutable, whichOnPath } from './exec';
import { TOOLS_DIR } from './paths';

/** The version of PyPI's `mcp-server-time` the bootstrap installs (the reference MCP time server, over stdio). */
export const MCP_SERVER_TIME_VERSION = '2026.10.19';

const VENV = path.join(TOOLS_DIR, 'mcp-server-time', MCP_SERVER_TIME_VERSION);

/**
 * The interpreter of the virtualenv the bootstrap installs it in, under `.tools/` (git-ignored). Run the server
 * as `<python> -m mcp_server_time`: the venv's own scripts name the folder it was built in, the interpreter works
 * from wherever the venv is.
 */
export const MCP_SERVER_TIME_PYTHON = path.join(VENV, 'bin', 'python');

/** The marker written last, so a venv whose install was cut short is built again. */
const DONE = path.join(VENV, '.installed');

/**
 * The path of the pinned venv's interpreter, installing `mcp-server-time` into a virtualenv of its own first
 * (python3 -m venv, then pip) when it is not there. Quiet when it is. Built in a sibling folder and renamed into
 * place, so a concurrent bootstrap never sees half an install.
 *
 * @throws Error saying why when python3 (with venv and pip) is missing or the install fails.
 */
export async function ensureMcpServerTime(log: (line: string) => void = console.log): Promise<string> {
  if (await exists(DONE)) return MCP_SERVER_TIME_PYTHON;
  const python = (await whichOnPath('python3')) ?? (await whichOnPath('python'));
  if (!python) throw new Error('python3 is not installed');
  const target = VENV;
  const staged = path.join(path.dirname(target), `.staged-${randomUUID()}`);
  await mkdir(path.dirname(target), { recursive: true });
  try {
    await execOrThrow(python, ['-m', 'venv', staged]);
    await execOrThrow(path.join(staged, 'bin', 'python'), [
      '-m',
      'pip',
      'install',
      '--quiet',
      '--disable-pip-version-check',
      `mcp-server-time==${MCP_SERVER_TIME_VERSION}`,
    ]);
    await writeFile(path.join(staged, '.installed'), `${MCP_SERVER_TIME_VERSION}\n`);
    await rm(target, { recursive: true, force: true });
    await rename(staged, target);
  } finally {
    await rm(staged, { recursive: true, force: true });
  }
  if (!(await isExecutable(MCP_SERVER_TIME_PYTHON))) throw new Error(`${MCP_SERVER_TIME_PYTHON} was not installed`);
  log(`installed mcp-server-time ${MCP_SERVER_TIME_VERSION} at ${path.relative(process.cwd(), target)}`);
  return MCP_SERVER_TIME_PYTHON;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
