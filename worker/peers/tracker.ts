/**
 * Which peers disappeared between two looks at the lease locks. A peer is reported lost once: after it was seen
 * holding its lease and then was not. {@link PeerTracker.forget} drops what was seen (the watcher's own connection
 * failed: a Postgres restart drops every lease at once, and absence then proves nothing about the peers).
 */
export class PeerTracker {
  #known = new Set<string>();

  /** Records the identities holding a lease now; returns those that held one at the last look and do not now. */
  observe(holders: Iterable<string>): string[] {
    const now = new Set(holders);
    const lost = [...this.#known].filter((identity) => !now.has(identity));
    this.#known = now;
    return lost;
  }

  /** Forgets every peer seen: the next look only learns. */
  forget(): void {
    this.#known = new Set();
  }

  /** The peers seen holding a lease at the last look. */
  get known(): ReadonlySet<string> {
    return this.#known;
  }
}
