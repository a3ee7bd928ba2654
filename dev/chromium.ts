import { execOrThrow, isExecutable, isRoot, whichOnPath } from './exec';

/** Debian's Chromium, the browser the browser test drives. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Thrown when no Chromium is installed and this process cannot install it. */
export class ChromiumMissingError extends Error {
  override readonly name = 'ChromiumMissingError';
}

/**
 * The path of Debian's `chromium` (`CHROMIUM_PATH` overrides it), installed with apt-get when it is missing and we are
 * root (as on CI). Idempotent: a machine that has it only pays one `access` call. Only the browser test asks for it,
 * so `npm start` and the other tests never install a browser. No npm package downloads one.
 * @throws ChromiumMissingError when it is missing and cannot be installed here.
 */
export async function ensureChromium(log: (line: string) => void = () => undefined): Promise<string> {
  const path = process.env['CHROMIUM_PATH'] || CHROMIUM_PATH;
  if (await isExecutable(path)) return path;
  if (path === CHROMIUM_PATH && isRoot() && (await whichOnPath('apt-get'))) {
    log('installing Chromium (apt-get install chromium) ...');
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    await execOrThrow('apt-get', ['update', '-qq'], { env });
    await execOrThrow('apt-get', ['install', '-y', '-qq', 'chromium'], { env });
    if (await isExecutable(path)) return path;
  }
  throw new ChromiumMissingError(
    `no Chromium at ${path}: install it (Debian: apt-get install chromium) or set CHROMIUM_PATH to a Chromium binary`,
  );
}
