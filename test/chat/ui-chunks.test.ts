import assert from 'node:assert/strict';
import type { TurnEvent } from '../../common';
import { UiChunkTranslator } from '../../gateway/chat/ui-chunks';

describe('chat endpoints: UI chunks of deeply nested tool JSON', () => {
  const base = { turnId: 't', prev: 0, hop: 0, attempt: 1 } as const;
  const deep = `{"value":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;

  it('shows arguments and results nested past the limit as text, so the chunks can be written', () => {
    const translator = new UiChunkTranslator('m-answer');
    const events: TurnEvent[] = [
      {
        ...base,
        cursor: 1,
        type: 'tool_calls',
        message: 'Executing 1 tool(s)...',
        calls: [{ id: 'c1', name: 'store_json', arguments: deep }],
      },
      {
        ...base,
        cursor: 2,
        prev: 1,
        type: 'tool_result',
        toolCallId: 'c1',
        name: 'store_json',
        content: deep,
        isError: false,
      },
    ];
    const chunks = events.flatMap((event) => translator.event(event));
    // What the SSE writer and c.json do with every chunk: it must not overflow the stack.
    const written = chunks.map((chunk) => JSON.stringify(chunk));
    const input = chunks.find((chunk) => chunk.type === 'tool-input-available');
    const output = chunks.find((chunk) => chunk.type === 'tool-output-available');
    assert.equal(input && 'input' in input ? input.input : undefined, deep);
    assert.equal(output && 'output' in output ? output.output : undefined, deep);
    assert.equal(written.length, chunks.length);
  });

  it('still parses JSON within the limit', () => {
    const translator = new UiChunkTranslator('m-answer');
    const chunks = translator.event({
      ...base,
      cursor: 1,
      type: 'tool_calls',
      message: 'Executing 1 tool(s)...',
      calls: [{ id: 'c1', name: 'calculate', arguments: '{"expression":"1+1","n":[[1]]}' }],
    });
    const input = chunks.find((chunk) => chunk.type === 'tool-input-available');
    assert.deepEqual(input && 'input' in input ? input.input : undefined, { expression: '1+1', n: [[1]] });
  });
});
