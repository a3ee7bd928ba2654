import { isExternalId } from './ids';
import type { ChatTurnInput } from './turn';

/**
 * The bounds of a turn request, and a plain check of a workflow's input against them, without zod. Workflows check
 * their input with {@link turnInputProblem}: every module a workflow imports is instantiated again for each workflow
 * run, and building zod schemas there cost tens of milliseconds of every workflow task (issue 17). Callers validate
 * with the zod schemas in `turn.ts`, which take their bounds from here.
 */
export const TURN_LIMITS = {
  /** Longest model name. */
  modelLength: 200,
  /** Tools a request may name, and the longest tool name. */
  tools: 64,
  toolNameLength: 64,
  /** Tool rounds a turn may allow. */
  maxHops: 50,
  /** Persistence knobs. */
  intervalMs: 60_000,
  minChars: 1_000_000,
  /** Token budget of one turn. */
  maxTokens: 1_000_000_000,
} as const;

/** The double-texting policies (see `DoubleTextingPolicy`). */
export const DOUBLE_TEXTING_POLICIES = ['enqueue', 'reject', 'interrupt', 'steer'] as const;

const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const isName = (v: unknown, max: number): v is string => typeof v === 'string' && v.length >= 1 && v.length <= max;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isToolList = (v: unknown) =>
  v === undefined ||
  (Array.isArray(v) && v.length <= TURN_LIMITS.tools && v.every((n) => isName(n, TURN_LIMITS.toolNameLength)));

/**
 * What is wrong with a workflow's turn input, or `undefined` when it is a `ChatTurnInput` as the caller's validation
 * produces it (every default filled in). Accepts exactly what `ChatTurnInput.parse` returns unchanged; unknown
 * fields are ignored, as zod ignores them.
 */
export function turnInputProblem(raw: unknown): string | undefined {
  if (!isRecord(raw)) return 'must be an object';
  for (const key of ['tenantId', 'conversationId', 'requestId'] as const) {
    if (!isExternalId(raw[key])) return `${key} must be 1-128 letters, digits, ".", "_" or "-"`;
  }
  if (!isName(raw.turnId, Number.MAX_SAFE_INTEGER)) return 'turnId must be a non-empty string';
  if (raw.model !== undefined && !isName(raw.model, TURN_LIMITS.modelLength)) return 'model must be 1-200 characters';
  if (!isToolList(raw.tools)) return 'tools must be at most 64 names of 1-64 characters';
  if (!isToolList(raw.approvalTools)) return 'approvalTools must be at most 64 names of 1-64 characters';
  if (!isInt(raw.maxHops, 0, TURN_LIMITS.maxHops)) return 'maxHops must be an integer from 0 to 50';
  const p = raw.persistence;
  if (
    !isRecord(p) ||
    typeof p.persistDeltas !== 'boolean' ||
    !isInt(p.intervalMs, 0, TURN_LIMITS.intervalMs) ||
    !isInt(p.minChars, 0, TURN_LIMITS.minChars)
  ) {
    return 'persistence must be { persistDeltas: boolean, intervalMs: 0-60000, minChars: 0-1000000 }';
  }
  const b = raw.budget;
  if (b !== undefined && (!isRecord(b) || Object.keys(b).some((k) => k !== 'maxTokens'))) {
    return 'budget must be { maxTokens }';
  }
  if (b !== undefined && !isInt(b.maxTokens, 1, TURN_LIMITS.maxTokens)) {
    return 'budget.maxTokens must be an integer from 1 to 1000000000';
  }
  if (typeof raw.logInitialResponse !== 'boolean') return 'logInitialResponse must be a boolean';
  if (raw.interrupted !== undefined && typeof raw.interrupted !== 'boolean') return 'interrupted must be a boolean';
  return undefined;
}

/** `raw` as a `ChatTurnInput`, or the problem {@link turnInputProblem} finds. */
export function checkTurnInput(raw: unknown): { input: ChatTurnInput } | { problem: string } {
  const problem = turnInputProblem(raw);
  return problem === undefined ? { input: raw as ChatTurnInput } : { problem };
}
