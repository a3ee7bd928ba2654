import { createHash } from 'node:crypto';
import { storableText } from '../../common';
import type { ToolCallDelta } from './chunk-schema';
import type { DroppedToolCall, ToolCall } from './types';

/** @default 'call_' */
export const DEFAULT_TOOL_CALL_ID_PREFIX = 'call_';

/**
 * Longest tool-call id kept as the model sent it. Ids become part of keys and unique indexes (a stored result
 * per call, its stream event, the tool's idempotency key), so a longer one, or one with characters other than
 * printable ASCII, is replaced by an id derived from it ({@link ToolCallAssembler.result}).
 */
export const MAX_TOOL_CALL_ID_CHARS = 128;

/** Longest tool name kept (the longest a tool can be registered with): a longer one is cut, and matches no tool. */
export const MAX_TOOL_NAME_CHARS = 64;

const KEEPABLE_ID = /^[\x21-\x7e]+$/;

interface OpenCall {
  index: number | null;
  id: string;
  name: string;
  arguments: string;
}

/**
 * Assembles streamed `delta.tool_calls` entries into whole calls.
 *
 * Deltas with an `index` go to the call opened for that index (a different non-empty id at a
 * known index opens a new call: some providers reuse index 0 for parallel calls). Deltas without
 * an `index` (Mistral, Ollama) open a new call when they carry an id different from the last
 * call's id, or a name while the last call already has a different name or is complete (name +
 * arguments that parse as JSON); otherwise they continue the last call. Empty ids and names never
 * overwrite earlier ones; arguments are concatenated.
 */
export class ToolCallAssembler {
  private readonly calls: OpenCall[] = [];
  private readonly positionByIndex = new Map<number, number>();
  private last: number | null = null;

  /** @param idPrefix prefix of ids generated for calls the provider sent without one. */
  constructor(private readonly idPrefix: string = DEFAULT_TOOL_CALL_ID_PREFIX) {}

  /** Applies one `delta.tool_calls` entry. */
  add(delta: ToolCallDelta): void {
    const position = this.positionFor(delta);
    const call = this.calls[position];
    if (call === undefined) return; // unreachable: positionFor always returns an open call
    if (delta.id) call.id = delta.id;
    if (delta.function?.name) call.name = delta.function.name;
    if (delta.function?.arguments) call.arguments += delta.function.arguments;
    this.last = position;
  }

  /**
   * Complete calls and the dropped ones (no function name). Every complete call has a distinct id within the
   * hop, fit for keys: generated where missing; derived (prefix + hash) where too long or not printable ASCII;
   * suffixed (`_2`, …) where an earlier call of the hop already has it, so two calls with one id both run and
   * each gets its own result. Names are cut to {@link MAX_TOOL_NAME_CHARS}; names and arguments are made
   * storable. Deterministic, so a retried attempt replaying the same stream gets the same ids.
   */
  result(): { toolCalls: ToolCall[]; dropped: DroppedToolCall[] } {
    const toolCalls: ToolCall[] = [];
    const dropped: DroppedToolCall[] = [];
    const taken = new Set(this.calls.map((call) => call.id).filter((id) => id !== ''));
    const used = new Set<string>();
    this.calls.forEach((call, position) => {
      if (call.name === '') {
        dropped.push({
          position,
          index: call.index,
          id: call.id === '' ? null : call.id,
          name: null,
          arguments: call.arguments,
          reason: 'missing_name',
        });
        return;
      }
      let id = call.id === '' ? this.generateId(position, taken) : this.keyableId(call.id);
      if (used.has(id)) id = distinctId(id, (candidate) => used.has(candidate) || taken.has(candidate));
      used.add(id);
      taken.add(id);
      const name = storableText(call.name.slice(0, MAX_TOOL_NAME_CHARS));
      toolCalls.push({ id, type: 'function', function: { name, arguments: storableText(call.arguments) } });
    });
    return { toolCalls, dropped };
  }

  /** `id` if it can be part of a key as it is, else an id derived from it (stable: the same id, the same result). */
  private keyableId(id: string): string {
    if (id.length <= MAX_TOOL_CALL_ID_CHARS && KEEPABLE_ID.test(id)) return id;
    return `${this.idPrefix}x${createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 32)}`;
  }

  private positionFor(delta: ToolCallDelta): number {
    const id = delta.id ?? '';
    const name = delta.function?.name ?? '';
    if (delta.index !== null && delta.index !== undefined) {
      const known = this.positionByIndex.get(delta.index);
      const call = known === undefined ? undefined : this.calls[known];
      if (known !== undefined && call !== undefined && !(id !== '' && call.id !== '' && id !== call.id)) return known;
      const opened = this.open(delta.index);
      this.positionByIndex.set(delta.index, opened);
      return opened;
    }
    const last = this.last === null ? undefined : this.calls[this.last];
    if (this.last === null || last === undefined) return this.open(null);
    if (id !== '') {
      if (last.id !== '') return id === last.id ? this.last : this.open(null);
      return isComplete(last) ? this.open(null) : this.last;
    }
    if (name !== '' && last.name !== '' && (name !== last.name || isComplete(last))) return this.open(null);
    return this.last;
  }

  private open(index: number | null): number {
    this.calls.push({ index, id: '', name: '', arguments: '' });
    return this.calls.length - 1;
  }

  // Deterministic (prefix + position) so an activity retry that replays the same stream produces
  // the same ids; a suffix only appears if the provider itself used the generated id.
  private generateId(position: number, taken: Set<string>): string {
    let id = `${this.idPrefix}${position}`;
    for (let n = 1; taken.has(id); n += 1) id = `${this.idPrefix}${position}_${n}`;
    taken.add(id);
    return id;
  }
}

/** `id_2`, `id_3`, …: the first that `isTaken` does not reject. */
function distinctId(id: string, isTaken: (candidate: string) => boolean): string {
  let candidate = id;
  for (let n = 2; isTaken(candidate); n += 1) candidate = `${id}_${n}`;
  return candidate;
}

function isComplete(call: OpenCall): boolean {
  if (call.name === '' || call.arguments === '') return false;
  try {
    JSON.parse(call.arguments);
    return true;
  } catch {
    return false;
  }
}
