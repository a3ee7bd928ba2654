/** What a caller saw of one turn; times are epoch ms (`performance.timeOrigin + performance.now()`). */
export interface TurnRecord {
  key: string;
  /** The turn's workflow id (for its history); absent for `direct`. */
  workflowId?: string;
  /** Just before the caller asked for the turn. */
  startAt: number;
  firstDeltaAt?: number;
  /** When the caller saw the end of the turn. */
  endAt?: number;
  /**
   * The caller's one request to Temporal (TurnClient's update-with-start): when it left the process and when its
   * answer came back. Absent where the caller cannot see it (the gateway's turns, the other systems).
   */
  temporal?: { sentAt: number; answeredAt: number };
  /** Each chunk token the caller received, with when. */
  received: [string, number][];
}

/** What a turn asks of the system beyond its message. */
export interface TurnOptions {
  /** Tools offered (turnflow); default none. */
  tools?: string[];
  /** turnflow's `PersistenceOptions`; default the product's. */
  persistence?: { persistDeltas?: boolean; intervalMs?: number; minChars?: number };
}

/** One system under test: runs turns (all at once, or one after another) and reports what the caller saw. */
export interface System {
  readonly name: string;
  run(keys: readonly string[], opts: { sequential: boolean } & TurnOptions): Promise<TurnRecord[]>;
}

export const now = (): number => performance.timeOrigin + performance.now();

/** Runs `one` for every key, all at once or one after another. */
export async function runAll<T>(
  keys: readonly string[],
  sequential: boolean,
  one: (key: string) => Promise<T>,
): Promise<T[]> {
  if (!sequential) return Promise.all(keys.map(one));
  const out: T[] = [];
  for (const key of keys) out.push(await one(key));
  return out;
}
