import assert from 'node:assert/strict';
import { packPayloads } from '../../stream-log';

describe('packPayloads (NOTIFY coalescing)', () => {
  it('sends a lone event as itself', () => {
    assert.deepEqual(packPayloads(['{"a":1}']), ['{"a":1}']);
  });

  it('sends queued events together as one JSON array, in order', () => {
    const packed = packPayloads(['{"a":1}', '{"a":2}', '{"a":3}']);
    assert.deepEqual(packed, ['[{"a":1},{"a":2},{"a":3}]']);
    assert.deepEqual(JSON.parse(packed[0]!), [{ a: 1 }, { a: 2 }, { a: 3 }]);
  });

  it('starts a new notification before one would pass the 7800-byte limit', () => {
    const big = JSON.stringify({ text: 'x'.repeat(3000) }); // 3013 bytes each: two fit, three do not
    const packed = packPayloads([big, big, big]);
    assert.equal(packed.length, 2);
    assert.deepEqual(packed[0], `[${big},${big}]`);
    assert.deepEqual(packed[1], big);
    for (const p of packed) assert.ok(Buffer.byteLength(p) <= 7800);
  });

  it('sends nothing for nothing', () => {
    assert.deepEqual(packPayloads([]), []);
  });
});
