import { Rng } from './rng';

/**
 * What the chaos run's model does in a turn, decided by (seed, turn index) alone. The expected answer of every turn
 * is known from its plan, independently of the code under test.
 */
export interface TurnPlan {
  index: number;
  conversationId: string;
  /** The user's message; the scripted model reads the seed and the turn index back from it. */
  message: string;
  /** One entry per hop: tool hops first (with calls), then the final hop (no calls). */
  hops: HopPlan[];
  /** The model rejects every attempt of hop 0 with a 400: the turn must fail, with an `error` event. */
  expectFailure: boolean;
  /** Where the supervisor kills the worker running this turn, if anywhere. */
  kill: KillPlan | null;
  /** The client drops its stream after this many events and resumes with `Last-Event-ID` (repeatable). */
  dropsAfterEvents: number[];
}

export interface HopPlan {
  /** What the model says in this hop, streamed word by word. */
  text: string;
  calls: ToolCallPlan[];
}

export interface ToolCallPlan {
  id: string;
  args: { turn: number; hop: number; n: number };
}

/** The moments a kill is aimed at. `random` kills come from a timer and hit whatever runs. */
export const KILL_PHASES = ['stream', 'tool', 'tool-effect', 'completion', 'random'] as const;
export type KillPhase = (typeof KILL_PHASES)[number];

export type KillPlan =
  /** While hop `hop` streams, after `afterChunks` chunks of its first attempt. */
  | { phase: 'stream'; hop: number; afterChunks: number }
  /** While the first call of hop `hop` runs, before its side effect. */
  | { phase: 'tool'; hop: number }
  /** After the first call of hop `hop` made its side effect, before its result is stored. */
  | { phase: 'tool-effect'; hop: number }
  /** While `completeTurn` stores the answer, announces `done` and compacts the stream. */
  | { phase: 'completion'; delayMs: number };

/** The faults the model injects on early attempts of a hop. */
export const FAULTS = ['429', '500', '503', 'reset', 'truncate', 'stall', 'malformed'] as const;
export type Fault = (typeof FAULTS)[number];

/** The tool every chaos turn calls; it records each execution (see `chaos/worker.ts`). */
export const CHAOS_TOOL = 'chaos_record';

const WORDS = (
  'river stone lantern orbit quiet maple harbor signal copper meadow ember falcon velvet tundra prism ' +
  'cobalt willow summit thistle beacon saffron glacier marble cipher juniper aurora basalt meridian'
).split(' ');

/** The message of turn `index`; {@link parseMessage} reads it back. */
export function turnMessage(seed: number, index: number): string {
  return `chaos seed ${seed} turn ${index}: please use the tool and answer`;
}

/** The (seed, turn index) a message was made from, or `undefined`. */
export function parseMessage(message: string): { seed: number; index: number } | undefined {
  const match = /^chaos seed (\d+) turn (\d+):/.exec(message);
  return match ? { seed: Number(match[1]), index: Number(match[2]) } : undefined;
}

/** The plan of turn `index` of the run with `seed`. */
export function planTurn(seed: number, index: number): TurnPlan {
  const rng = new Rng(seed, index, 1);
  const toolHops = rng.pick([0, 1, 1, 2]);
  const hops: HopPlan[] = [];
  for (let hop = 0; hop < toolHops; hop++) {
    const calls = Array.from({ length: rng.int(1, 2) }, (_, n) => ({
      id: `call_${index}_${hop}_${n}`,
      args: { turn: index, hop, n },
    }));
    hops.push({ text: sentence(rng, rng.int(3, 8)) + ' ', calls });
  }
  hops.push({ text: sentence(rng, rng.int(20, 60)) + '.', calls: [] });
  const expectFailure = index % 20 === 7;
  return {
    index,
    conversationId: `chaos-${seed}-${index}`,
    message: turnMessage(seed, index),
    hops,
    expectFailure,
    kill: expectFailure || !rng.chance(0.8) ? null : planKill(rng, index, toolHops),
    dropsAfterEvents: rng.chance(0.4) ? [rng.int(1, 30)] : [],
  };
}

/** The answer a completed turn must have: every hop's text, in order. */
export function expectedAnswer(plan: TurnPlan): string {
  return plan.hops.map((h) => h.text).join('');
}

/** What the chaos tool returns for a call; the model checks it reads exactly this back. */
export function toolResultFor(args: ToolCallPlan['args']): string {
  return `recorded turn ${args.turn} hop ${args.hop} call ${args.n}`;
}

/** The fault the model injects on `attempt` (1-based request count) of a hop, if any: only the first two. */
export function faultFor(seed: number, index: number, hop: number, attempt: number): Fault | null {
  if (attempt > 2) return null;
  const rng = new Rng(seed, index, hop, attempt, 2);
  return rng.chance(0.3) ? rng.pick(FAULTS) : null;
}

/** After how many chunks a mid-stream fault strikes (the hop's text has at least three words). */
export function faultChunk(seed: number, index: number, hop: number, attempt: number): number {
  return new Rng(seed, index, hop, attempt, 3).int(1, 3);
}

function planKill(rng: Rng, index: number, toolHops: number): KillPlan {
  // Cycle through the phases by turn index so every run hits each one; tool phases need a tool hop.
  const phases =
    toolHops > 0 ? (['stream', 'tool', 'tool-effect', 'completion'] as const) : (['stream', 'completion'] as const);
  const phase = phases[index % phases.length]!;
  const hop = rng.int(0, Math.max(0, toolHops - 1));
  switch (phase) {
    case 'stream':
      return { phase, hop: rng.int(0, toolHops), afterChunks: rng.int(1, 3) };
    case 'tool':
    case 'tool-effect':
      return { phase, hop };
    case 'completion':
      return { phase, delayMs: rng.int(0, 15) };
  }
}

function sentence(rng: Rng, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(rng.pick(WORDS));
  const text = out.join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}
