/**
 * A stdio server must not outlive its worker, even one killed with SIGKILL (which runs no clean-up). Each stdio
 * server therefore runs under a small guard: a `node -e` process that starts the server in a process group of
 * its own, sharing the guard's stdin/stdout (so messages do not pass through the guard), and ends the whole group
 * when the worker goes away: on SIGTERM/SIGINT/SIGHUP (the SDK's own close), and when the guard's parent changes
 * (the worker died and the guard was re-parented), checked every 200 ms. A server that spawns helpers of its own
 * (`uvx` → python) is ended with them, since they share its group.
 *
 * @module
 */

/** The guard's source, run with `node -e GUARD_SOURCE -- <command> <args…>`. */
export const GUARD_SOURCE = `
const { spawn } = require('node:child_process');
const [command, ...args] = process.argv.slice(1);
const parent = process.ppid;
const child = spawn(command, args, { stdio: 'inherit', detached: true });
let ending = false;
const killGroup = (signal) => { try { process.kill(-child.pid, signal); } catch {} };
const end = (code) => {
  if (ending) return;
  ending = true;
  killGroup('SIGTERM');
  setTimeout(() => { killGroup('SIGKILL'); process.exit(code); }, 1000).unref();
};
child.on('error', (err) => { process.stderr.write('mcp guard: cannot start ' + command + ': ' + err.message + '\\n'); process.exit(127); });
child.on('exit', (code, signal) => { killGroup('SIGKILL'); process.exit(code ?? (signal ? 1 : 0)); });
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => end(0));
setInterval(() => { if (process.ppid !== parent) end(1); }, 200);
`;

/** The command and arguments that run `command args` under the guard. */
export function guarded(command: string, args: readonly string[]): { command: string; args: string[] } {
  return { command: process.execPath, args: ['-e', GUARD_SOURCE, '--', command, ...args] };
}
