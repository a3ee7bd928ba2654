import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ChatStreamAccumulator } from '../../activities/llm';
import { StorableTextStream, storableText } from '../../common';
import { chunk, type RawChunk } from './chunks';

const calls = (...toolCalls: Record<string, unknown>[]): RawChunk => chunk({ tool_calls: toolCalls });

function read(chunks: RawChunk[]): ChatStreamAccumulator {
  const acc = new ChatStreamAccumulator({ toolCallIdPrefix: 'call_h2_' });
  for (const c of chunks) acc.push(c);
  return acc;
}

describe('tool call identity within a hop', () => {
  it('gives calls that share an id distinct ids, in the order the model made them', () => {
    const { toolCalls } = read([
      calls({ index: 0, id: 'same', function: { name: 'f', arguments: '{"n":1}' } }),
      calls({ index: 1, id: 'same', function: { name: 'f', arguments: '{"n":2}' } }),
      calls({ index: 2, id: 'same', function: { name: 'f', arguments: '{"n":3}' } }),
      calls({ index: 3, id: 'same_2', function: { name: 'f', arguments: '{"n":4}' } }),
    ]).result();
    assert.deepEqual(
      toolCalls.map((c) => c.id),
      ['same', 'same_3', 'same_4', 'same_2'],
    );
  });

  it('derives a short stable id from one too long or not printable ASCII, the same on every read', () => {
    const long = 'k'.repeat(129);
    const odd = 'id with spaces';
    const derived = (id: string) => `call_h2_x${createHash('sha256').update(id).digest('hex').slice(0, 32)}`;
    const chunks = [
      calls({ index: 0, id: long, function: { name: 'f', arguments: '{}' } }),
      calls({ index: 1, id: odd, function: { name: 'f', arguments: '{}' } }),
      calls({ index: 2, id: 'k'.repeat(128), function: { name: 'f', arguments: '{}' } }),
    ];
    const first = read(chunks).result().toolCalls.map((c) => c.id);
    assert.deepEqual(first, [derived(long), derived(odd), 'k'.repeat(128)]);
    assert.deepEqual(read(chunks).result().toolCalls.map((c) => c.id), first);
  });

  it('cuts names to 64 characters and makes names and arguments storable', () => {
    const { toolCalls } = read([
      calls({ index: 0, id: 'a', function: { name: `${'n'.repeat(63)}\uD83D\uDE00`, arguments: '{"t":"\u0000"}' } }),
    ]).result();
    // The cut falls inside the emoji's surrogate pair; the half left over is replaced, not stored broken.
    assert.equal(toolCalls[0]?.function.name, `${'n'.repeat(63)}\uFFFD`);
    assert.equal(toolCalls[0]?.function.arguments, '{"t":"\uFFFD"}');
  });
});

describe('storable text', () => {
  it('replaces NUL and lone surrogates and keeps pairs, whole or split across pieces', () => {
    assert.equal(storableText('a\u0000b\uD800c\uDC00d\uD83D\uDE00'), 'a\uFFFDb\uFFFDc\uFFFDd\uD83D\uDE00');
    const stream = new StorableTextStream();
    const pieces = ['x\uD83D', '\uDE00y', '\uD800', 'z', '\uD83D'];
    const out = pieces.map((p) => stream.push(p)).join('') + stream.end();
    assert.equal(out, 'x\uD83D\uDE00y\uFFFDz\uFFFD');
    assert.equal(out, storableText(pieces.join('')));
  });
});
