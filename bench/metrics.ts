import type { TurnRecord } from './systems/types';
import type { BenchModel } from './model';

/** Model sent a chunk → the caller received it, ms, for every chunk the callers received. */
export function deltaLatencies(
  records: readonly TurnRecord[],
  model: BenchModel,
): { values: number[]; missing: number } {
  const values: number[] = [];
  let missing = 0;
  for (const record of records) {
    for (const [token, at] of record.received) {
      const sent = model.sentAt.get(token);
      if (sent === undefined) missing += 1;
      else values.push(at - sent);
    }
  }
  return { values, missing };
}

/** Start → first delta at the caller, minus the model's own first-token delay, ms. */
export function ttftOverheads(records: readonly TurnRecord[], model: BenchModel): number[] {
  return records.flatMap((r) => {
    const own = model.ownFirstTokenMs.get(r.key);
    return r.firstDeltaAt === undefined || own === undefined ? [] : [r.firstDeltaAt - r.startAt - own];
  });
}

/** Start → the turn's first request reached the model, ms. */
export function startToModel(records: readonly TurnRecord[], model: BenchModel): number[] {
  return records.flatMap((r) => {
    const at = model.firstRequestAt.get(r.key);
    return at === undefined ? [] : [at - r.startAt];
  });
}

/** Start → end at the caller, ms. */
export function durations(records: readonly TurnRecord[]): number[] {
  return records.flatMap((r) => (r.endAt === undefined ? [] : [r.endAt - r.startAt]));
}

/** Chunks the callers should have received but did not. */
export function lostChunks(records: readonly TurnRecord[], chunksPerTurn: number): number {
  return records.reduce((sum, r) => sum + Math.max(0, chunksPerTurn - new Set(r.received.map(([t]) => t)).size), 0);
}

/** The most turns that were streaming at the same moment (first delta → end at the caller). */
export function peakStreaming(records: readonly TurnRecord[]): number {
  const edges = records.flatMap((r) =>
    r.firstDeltaAt === undefined || r.endAt === undefined
      ? []
      : [
          { at: r.firstDeltaAt, step: 1 },
          { at: r.endAt, step: -1 },
        ],
  );
  edges.sort((a, b) => a.at - b.at || a.step - b.step);
  let open = 0;
  let peak = 0;
  for (const e of edges) peak = Math.max(peak, (open += e.step));
  return peak;
}
