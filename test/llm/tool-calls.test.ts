import assert from 'node:assert/strict';
import { ChatStreamAccumulator } from '../../activities/llm';
import { chunk, type RawChunk } from './chunks';

const calls = (...toolCalls: Record<string, unknown>[]): RawChunk => chunk({ tool_calls: toolCalls });

function read(chunks: RawChunk[], prefix?: string): ChatStreamAccumulator {
  const acc = new ChatStreamAccumulator(prefix === undefined ? {} : { toolCallIdPrefix: prefix });
  for (const c of chunks) acc.push(c);
  return acc;
}

describe('tool call accumulation', () => {
  it('assembles calls by index with arguments split over many deltas', () => {
    const { toolCalls } = read([
      calls({ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }),
      calls({ index: 0, function: { arguments: '{"ci' } }),
      calls({ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } }),
      calls({ index: 0, function: { arguments: 'ty":"Paris"}' } }),
    ]).result();
    assert.deepEqual(toolCalls, [
      { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } },
    ]);
  });

  it('never lets empty ids or names in continuation deltas overwrite earlier ones', () => {
    const { toolCalls } = read([
      calls({ index: 0, id: 'call_a', function: { name: 'f', arguments: '{' } }),
      calls({ index: 0, id: '', type: '', function: { name: '', arguments: '}' } }),
      calls({ index: 0, id: null, function: { name: null, arguments: null } }),
    ]).result();
    assert.deepEqual(toolCalls, [{ id: 'call_a', type: 'function', function: { name: 'f', arguments: '{}' } }]);
  });

  it('opens a new call when a known index arrives with a different id', () => {
    const { toolCalls } = read([
      calls({ index: 0, id: 'call_a', function: { name: 'f', arguments: '{}' } }),
      calls({ index: 0, id: 'call_b', function: { name: 'g', arguments: '{' } }),
      calls({ index: 0, function: { arguments: '}' } }),
    ]).result();
    assert.deepEqual(
      toolCalls.map((c) => [c.id, c.function.name, c.function.arguments]),
      [
        ['call_a', 'f', '{}'],
        ['call_b', 'g', '{}'],
      ],
    );
  });

  describe('without index (Mistral, Ollama)', () => {
    it('starts a new call for each new id and continues the last one for deltas without id', () => {
      const { toolCalls } = read([
        calls({ id: 'm1', function: { name: 'weather', arguments: '{"loc' } }),
        calls({ function: { arguments: 'ation": "SF"}' } }),
        calls({ id: 'm2', function: { name: 'weather', arguments: '{"location": "LA"}' } }),
      ]).result();
      assert.deepEqual(
        toolCalls.map((c) => [c.id, c.function.arguments]),
        [
          ['m1', '{"location": "SF"}'],
          ['m2', '{"location": "LA"}'],
        ],
      );
    });

    it('continues the last call when the same id is repeated', () => {
      const { toolCalls } = read([
        calls({ id: 'm1', function: { name: 'f', arguments: '{"a":' } }),
        calls({ id: 'm1', function: { arguments: '1}' } }),
      ]).result();
      assert.deepEqual(toolCalls, [{ id: 'm1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }]);
    });

    it('starts a new call for a name while the current call is complete, and generates stable ids', () => {
      const { toolCalls } = read([
        calls({ function: { name: 'f', arguments: '{"x":1}' } }),
        calls({ function: { name: 'f', arguments: '{"x":2}' } }),
        calls({ function: { name: 'g', arguments: '' } }),
        calls({ function: { arguments: '{}' } }),
      ]).result();
      assert.deepEqual(toolCalls, [
        { id: 'call_0', type: 'function', function: { name: 'f', arguments: '{"x":1}' } },
        { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"x":2}' } },
        { id: 'call_2', type: 'function', function: { name: 'g', arguments: '{}' } },
      ]);
    });

    it('continues an incomplete call when its name is repeated with more arguments', () => {
      const { toolCalls } = read([
        calls({ function: { name: 'f', arguments: '{"x":' } }),
        calls({ function: { name: 'f', arguments: '1}' } }),
      ]).result();
      assert.deepEqual(toolCalls, [{ id: 'call_0', type: 'function', function: { name: 'f', arguments: '{"x":1}' } }]);
    });

    it('adopts an id that arrives after the name of a call still being written', () => {
      const { toolCalls } = read([
        calls({ function: { name: 'f', arguments: '{"x":' } }),
        calls({ id: 'late', function: { arguments: '1}' } }),
      ]).result();
      assert.deepEqual(toolCalls, [{ id: 'late', type: 'function', function: { name: 'f', arguments: '{"x":1}' } }]);
    });
  });

  describe('ids and incomplete calls', () => {
    it('generates ids from the caller prefix and the call position, the same on every read', () => {
      const stream = [
        calls({ index: 0, id: 'given', function: { name: 'f', arguments: '{}' } }),
        calls({ index: 1, function: { name: 'g', arguments: '{}' } }),
      ];
      const first = read(stream, 'turn-7:hop-1:')
        .result()
        .toolCalls.map((c) => c.id);
      const second = read(stream, 'turn-7:hop-1:')
        .result()
        .toolCalls.map((c) => c.id);
      assert.deepEqual(first, ['given', 'turn-7:hop-1:1']);
      assert.deepEqual(second, first);
    });

    it('never generates an id the provider already used', () => {
      const { toolCalls } = read([
        calls({ index: 0, function: { name: 'f', arguments: '{}' } }),
        calls({ index: 1, id: 'call_0', function: { name: 'g', arguments: '{}' } }),
      ]).result();
      assert.deepEqual(
        toolCalls.map((c) => c.id),
        ['call_0_1', 'call_0'],
      );
    });

    it('drops calls without a name from the result and lists them separately', () => {
      const acc = read([
        calls({ index: 0, id: 'call_a', function: { name: 'f', arguments: '{}' } }),
        calls({ index: 1, id: 'call_b', function: { arguments: '{"orphan":true}' } }),
        calls({ index: 2, function: { arguments: '' } }),
      ]);
      assert.deepEqual(
        acc.result().toolCalls.map((c) => c.id),
        ['call_a'],
      );
      assert.deepEqual(acc.droppedToolCalls(), [
        { position: 1, index: 1, id: 'call_b', name: null, arguments: '{"orphan":true}', reason: 'missing_name' },
        { position: 2, index: 2, id: null, name: null, arguments: '', reason: 'missing_name' },
      ]);
    });

    it('keeps text that precedes tool calls in the same message', () => {
      const result = read([
        chunk({ content: 'Let me check.' }),
        calls({ index: 0, id: 'c', function: { name: 'f', arguments: '{}' } }),
        chunk({}, { finish: 'tool_calls' }),
      ]).result();
      assert.equal(result.content, 'Let me check.');
      assert.equal(result.toolCalls.length, 1);
      assert.equal(result.finishReason, 'tool_calls');
    });
  });
});
