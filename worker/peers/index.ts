import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { PeerLease } from './lease';
import { reapLostWorker } from './reaper';

export { identityPid, isWorkerIdentity, MAX_IDENTITY_BYTES, workerIdentity } from './identity';
export { LEASE_NAMESPACE, PeerLease, REAP_NAMESPACE, type PeerLeaseOptions } from './lease';
export { reapLostWorker, WORKER_LOST, type ReapedActivity, type ReapOptions } from './reaper';
export { PeerTracker } from './tracker';

/** Options of {@link startPeerReaper}. */
export interface PeerReaperOptions {
  databaseUrl: string;
  /** This worker's Temporal identity (`workerIdentity()`), which its SDK worker must run under too. */
  identity: string;
  /** A client on the worker's namespace, with the worker's data converter. */
  client: Client;
  taskQueue: string;
  /** How often the other workers' leases are looked at (`TURNFLOW_PEER_POLL_MS`). */
  pollMs: number;
  logger: Logger;
}

/**
 * Holds this worker's lease in Postgres and, when another worker's lease disappears (its process died), fails the
 * activities that worker had started so Temporal retries them now rather than after their heartbeat timeout. One
 * survivor acts per loss (an election lock); a failure to act only leaves the heartbeat timeout to do it.
 */
export function startPeerReaper(opts: PeerReaperOptions): { stop(): Promise<void> } {
  const reaping = new Set<Promise<unknown>>();
  const lease = new PeerLease({
    databaseUrl: opts.databaseUrl,
    identity: opts.identity,
    pollMs: opts.pollMs,
    logger: opts.logger,
    onLost(lost) {
      const run = lease
        .elected(lost, async () => {
          const reaped = await reapLostWorker({
            client: opts.client,
            taskQueue: opts.taskQueue,
            lost,
            logger: opts.logger,
          });
          opts.logger.info({ lost, activities: reaped.length }, 'lost worker reaped');
        })
        .catch((err: unknown) => opts.logger.warn({ lost, err }, 'lost worker: reaping failed'))
        .finally(() => reaping.delete(run));
      reaping.add(run);
    },
  });
  lease.start();
  return {
    async stop() {
      await Promise.allSettled([...reaping]);
      await lease.stop();
      await Promise.allSettled([...reaping]);
    },
  };
}
