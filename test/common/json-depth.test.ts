import assert from 'node:assert/strict';
import { isTooDeep, jsonDepth, MAX_JSON_DEPTH } from '../../common';

describe('common: JSON depth', () => {
  it('counts the nesting of arrays and objects, not brackets inside strings', () => {
    assert.equal(jsonDepth('1'), 0);
    assert.equal(jsonDepth('"[[["'), 0);
    assert.equal(jsonDepth('[]'), 1);
    assert.equal(jsonDepth('{"a":[{"b":[]}],"c":{}}'), 4);
    assert.equal(jsonDepth('["\\"[[", {"k\\\\":[1]}]'), 3);
  });

  it('stops one level past the limit, so a deep text costs one pass and no recursion', () => {
    const deep = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
    assert.equal(jsonDepth(deep, MAX_JSON_DEPTH), MAX_JSON_DEPTH + 1);
    assert.equal(jsonDepth(deep), 1_000_000);
    assert.equal(isTooDeep(deep), true);
    assert.equal(isTooDeep('['.repeat(64) + ']'.repeat(64)), false);
    assert.equal(isTooDeep('['.repeat(65) + ']'.repeat(65)), true);
  });
});
