import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * The most bytes a worker identity may have: Postgres keeps `application_name` up to NAMEDATALEN - 1 = 63 bytes and
 * silently cuts longer ones, and peers recognise each other by the identity Temporal records and the name Postgres
 * shows, which must be the same string.
 */
export const MAX_IDENTITY_BYTES = 63;

/** Printable ASCII without quotes or spaces: Postgres replaces non-ASCII bytes of `application_name` with `?`. */
const IDENTITY = /^[A-Za-z0-9._:@/+-]+$/;

/** Whether `value` is a worker identity this module could have made (peers' names read from Postgres are checked). */
export function isWorkerIdentity(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    Buffer.byteLength(value) <= MAX_IDENTITY_BYTES &&
    IDENTITY.test(value)
  );
}

/**
 * A Temporal worker identity unique to this process: the SDK's default `pid@host` plus a random suffix, because two
 * containers commonly share a pid (1) and a restarted process may reuse a pid, and a surviving worker must never take
 * a new process for the one it saw die. The host is cut so the whole fits {@link MAX_IDENTITY_BYTES}.
 */
export function workerIdentity(pid = process.pid, host = hostname()): string {
  const suffix = randomBytes(4).toString('hex');
  const head = `${pid}@`;
  const room = MAX_IDENTITY_BYTES - head.length - suffix.length - 1;
  const safeHost = host.replace(/[^A-Za-z0-9.-]/g, '_').slice(0, Math.max(0, room)) || 'host';
  const identity = `${head}${safeHost}:${suffix}`;
  if (!isWorkerIdentity(identity)) throw new Error(`cannot make a worker identity of pid ${pid} on ${host}`);
  return identity;
}

/** The pid a {@link workerIdentity} was made with (tests map an activity's worker back to its process). */
export function identityPid(identity: string): number | undefined {
  const match = /^(\d+)@/.exec(identity);
  return match ? Number(match[1]) : undefined;
}
