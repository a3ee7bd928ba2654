import type { ToolCallDelta } from './chunk-schema';
import type { DroppedToolCall, ToolCall } from './types';

/** @default 'call_' */
export const DEFAULT_TOOL_CALL_ID_PREFIX = 'call_';

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

  /** Complete calls (id generated where missing) and the dropped ones (no function name). */
  result(): { toolCalls: ToolCall[]; dropped: DroppedToolCall[] } {
    const toolCalls: ToolCall[] = [];
    const dropped: DroppedToolCall[] = [];
    const taken = new Set(this.calls.map((call) => call.id).filter((id) => id !== ''));
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
      const id = call.id === '' ? this.generateId(position, taken) : call.id;
      toolCalls.push({ id, type: 'function', function: { name: call.name, arguments: call.arguments } });
    });
    return { toolCalls, dropped };
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

function isComplete(call: OpenCall): boolean {
  if (call.name === '' || call.arguments === '') return false;
  try {
    JSON.parse(call.arguments);
    return true;
  } catch {
    return false;
  }
}
