import { Rng } from './rng';

/** The double-texting policies a chaos message is sent with (README: "One conversation, one order"). */
export const POLICIES = ['enqueue', 'reject', 'interrupt', 'steer'] as const;
export type Policy = (typeof POLICIES)[number];

/**
 * When a conversation's message after its first is sent, relative to the message before it:
 * - `answered`: as soon as the previous start answered (a burst: it queues, is refused, interrupts or steers);
 * - `events`: once the previous turn's client has `count` events (mid-turn: mid-stream or mid-tool);
 * - `end`: `delayMs` (0-200) after the previous turn's terminal event reached its client, after SIGKILLing the
 *   worker that ran its last step (`kill: 'one'`) or every worker (`'both'`): the moment the conversation applies
 *   the finished child while a fresh worker takes the new message's update.
 * A previous message that was refused (409) counts as answered and ended.
 */
export type SendPlan =
  | { after: 'answered' }
  | { after: 'events'; count: number }
  | { after: 'end'; delayMs: number; kill: 'none' | 'one' | 'both' };

/**
 * What the chaos run's model does in a turn, decided by (seed, turn index) alone. The expected answer of every turn
 * is known from its plan, independently of the code under test.
 */
export interface TurnPlan {
  index: number;
  conversationId: string;
  /** Its request id (`m<index>`), so its turn id is `turn/<tenant>/<conversationId>/m<index>`. */
  requestId: string;
  /** Its place in the conversation (0 = the first message, sent when nothing runs). */
  position: number;
  policy: Policy;
  /** When it is sent (`null` for a conversation's first message: at once). */
  send: SendPlan | null;
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
  /** {@link CHAOS_TOOL} (an activity) or {@link CHAOS_LOCAL_TOOL} (a local activity), turn by turn. */
  tool: ChaosTool;
  args: { turn: number; hop: number; n: number };
}

/** The moments a kill is aimed at. `random` kills come from a timer and hit whatever runs. */
export const KILL_PHASES = ['stream', 'tool', 'tool-effect', 'completion', 'turn-end', 'random'] as const;
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

/** The tool chaos turns call; it records each execution (see `chaos/worker.ts`). */
export const CHAOS_TOOL = 'chaos_record';
/** The same tool defined `local` (a local activity in the workflow task): every other turn calls it. */
export const CHAOS_LOCAL_TOOL = 'chaos_record_local';
export const CHAOS_TOOLS = [CHAOS_TOOL, CHAOS_LOCAL_TOOL] as const;
export type ChaosTool = (typeof CHAOS_TOOLS)[number];

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

/** Messages per conversation: each conversation has 2-5 (the run's last one may have fewer). */
const CONVERSATION_SIZES = [2, 3, 4, 5] as const;

/** Conversation `c` of the run with `seed` holds the messages `first .. first + size - 1`. */
export function conversationOf(seed: number, index: number): { c: number; first: number; size: number } {
  let first = 0;
  for (let c = 0; ; c++) {
    const size = new Rng(seed, c, 4).pick(CONVERSATION_SIZES);
    if (index < first + size) return { c, first, size };
    first += size;
  }
}

/** The plan of message (turn) `index` of the run with `seed`. */
export function planTurn(seed: number, index: number): TurnPlan {
  const { c, first } = conversationOf(seed, index);
  const position = index - first;
  const conversationId = `chaos-${seed}-c${c}`;
  const order = new Rng(seed, index, 5);
  // Every policy in every run: cycled by message index, with a random shift per conversation.
  const policy: Policy = position === 0 ? 'enqueue' : POLICIES[(index + c) % POLICIES.length]!;
  const send = position === 0 ? null : planSend(order, policy);
  const rng = new Rng(seed, index, 1);
  const toolHops = rng.pick([0, 1, 1, 2]);
  const hops: HopPlan[] = [];
  // Activities and local activities alike, kills aimed at both.
  const tool: ChaosTool = index % 2 === 0 ? CHAOS_TOOL : CHAOS_LOCAL_TOOL;
  for (let hop = 0; hop < toolHops; hop++) {
    const calls = Array.from({ length: rng.int(1, 2) }, (_, n) => ({
      id: `call_${index}_${hop}_${n}`,
      tool,
      args: { turn: index, hop, n },
    }));
    hops.push({ text: sentence(rng, rng.int(3, 8)) + ' ', calls });
  }
  hops.push({ text: sentence(rng, rng.int(20, 60)) + '.', calls: [] });
  // A steered message joins another turn's answer: its own failure would fail that turn, so it never plans one.
  const expectFailure = index % 20 === 7 && policy !== 'steer';
  return {
    index,
    conversationId,
    requestId: `m${index}`,
    position,
    policy,
    send,
    message: turnMessage(seed, index),
    hops,
    expectFailure,
    kill: expectFailure || !rng.chance(0.8) ? null : planKill(rng, index, toolHops),
    dropsAfterEvents: rng.chance(0.4) ? [rng.int(1, 30)] : [],
  };
}

/** The plans of a run's `turns` messages, grouped by conversation in message order. */
export function planRun(seed: number, turns: number): TurnPlan[][] {
  const conversations: TurnPlan[][] = [];
  for (let index = 0; index < turns; index++) {
    const plan = planTurn(seed, index);
    if (plan.position === 0) conversations.push([]);
    conversations.at(-1)!.push(plan);
  }
  return conversations;
}

function planSend(rng: Rng, policy: Policy): SendPlan {
  // A steer or an interrupt means something only while a turn runs; an enqueue or a reject is tried every way.
  const r = rng.next();
  if (policy === 'steer' || policy === 'interrupt') {
    if (r < 0.5) return { after: 'events', count: rng.int(1, 12) };
    if (r < 0.75) return { after: 'answered' };
  } else {
    if (r < 0.25) return { after: 'events', count: rng.int(1, 12) };
    if (r < 0.4) return { after: 'answered' };
  }
  const kill = rng.next();
  return { after: 'end', delayMs: rng.int(0, 200), kill: kill < 0.5 ? 'one' : kill < 0.75 ? 'both' : 'none' };
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
