import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux the bench targets). */
const TICKS_PER_S = 100;

interface Stat {
  pid: number;
  ppid: number;
  /** utime + stime, ms. */
  cpuMs: number;
  /** cutime + cstime: children already reaped, ms. */
  reapedMs: number;
}

async function readStat(pid: number): Promise<Stat | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  // The command name is in parentheses and may hold spaces: the fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const num = (i: number) => Number(fields[i - 3]);
  const ms = (ticks: number) => (ticks * 1000) / TICKS_PER_S;
  return { pid, ppid: num(4), cpuMs: ms(num(14) + num(15)), reapedMs: ms(num(16) + num(17)) };
}

async function allStats(): Promise<Stat[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  const stats = await Promise.all(pids.map(readStat));
  return stats.filter((s): s is Stat => s !== undefined);
}

/**
 * CPU time of a process tree, ms: the root's own and reaped children's time plus every live descendant's own
 * time (a Postgres backend that exits is reaped by the postmaster, so its time moves into the root's figure).
 */
export async function treeCpuMs(rootPid: number): Promise<number> {
  const stats = await allStats();
  const children = new Map<number, Stat[]>();
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const root = stats.find((s) => s.pid === rootPid);
  if (root === undefined) return NaN;
  let total = root.cpuMs + root.reapedMs;
  const stack = [...(children.get(rootPid) ?? [])];
  while (stack.length > 0) {
    const s = stack.pop()!;
    total += s.cpuMs;
    stack.push(...(children.get(s.pid) ?? []));
  }
  return total;
}

/** The parent of `pid`. */
export async function parentOf(pid: number): Promise<number | undefined> {
  return (await readStat(pid))?.ppid;
}

/** Resident set size of `pid`, MB. */
export async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return kb === undefined ? NaN : Number(kb) / 1024;
}

/** A child of this process whose command line contains every one of `parts`. */
export async function findChild(parts: readonly string[]): Promise<number | undefined> {
  for (const s of await allStats()) {
    if (s.ppid !== process.pid) continue;
    const cmdline = await readFile(`/proc/${s.pid}/cmdline`, 'utf8').catch(() => '');
    const args = cmdline.split('\0');
    if (parts.every((p) => args.includes(p))) return s.pid;
  }
  return undefined;
}

/** Logical CPUs of this machine. */
export function cpuCount(): number {
  return os.availableParallelism();
}
