import assert from 'node:assert/strict';
import { describeJsonProblem, findDuplicateKey, parseStrictJson, parseStrictJsonText } from '../../gateway/json';

describe('gateway: strict JSON bodies', () => {
  it('finds a repeated key at any depth, comparing names after unescaping', () => {
    assert.deepEqual(findDuplicateKey('{"a":1,"a":2}'), { key: 'a', path: '' });
    assert.deepEqual(findDuplicateKey('{"a":1,"\\u0061":2}'), { key: 'a', path: '' });
    assert.deepEqual(findDuplicateKey('{"p":{"x":1,"x":2}}'), { key: 'x', path: 'p' });
    assert.deepEqual(findDuplicateKey('{"t":[{"k":1},{"k":2,"k":3}]}'), { key: 'k', path: 't[1]' });
    assert.deepEqual(findDuplicateKey('[[1],[{"z":0,"z":0}]]'), { key: 'z', path: '[1][0]' });
  });

  it('accepts the same name in sibling objects, in values, and in strings that look like JSON', () => {
    assert.equal(findDuplicateKey('{"a":{"k":1},"b":{"k":1}}'), undefined);
    assert.equal(findDuplicateKey('{"a":"a","b":["a","a"]}'), undefined);
    assert.equal(findDuplicateKey('{"m":"{\\"a\\":1,\\"a\\":2}","n":"\\\\"}'), undefined);
    assert.equal(findDuplicateKey('{"a":[1,{"b":2}],"c":{"a":[]}}'), undefined);
  });

  it('refuses bytes that are not UTF-8, lone surrogates and NUL, naming the member', () => {
    assert.deepEqual(parseStrictJson(Uint8Array.from([0x22, 0xed, 0xa0, 0x80, 0x22])), {
      ok: false,
      problem: { kind: 'invalid_utf8' },
    });
    assert.deepEqual(parseStrictJsonText('{"tools":["ok","\\udfff"]}'), {
      ok: false,
      problem: { kind: 'lone_surrogate', path: 'tools[1]' },
    });
    assert.deepEqual(parseStrictJsonText('{"a\\u0000":1}'), { ok: false, problem: { kind: 'nul', path: 'a\u0000' } });
    // A pair written as two escapes is one well-formed character; a BOM is dropped.
    assert.deepEqual(parseStrictJsonText('{"m":"\\ud83d\\ude00"}'), { ok: true, value: { m: '😀' } });
    assert.deepEqual(parseStrictJson(new TextEncoder().encode('\ufeff{"m":1}')), { ok: true, value: { m: 1 } });
  });

  it('refuses 10,000 nested arrays or objects as too deep instead of overflowing the stack', () => {
    const bodies = [
      `{"message":"hi","x":${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
      `{"message":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`,
      // Past the limit and invalid as well: still refused without a walk.
      `[${'['.repeat(10_000)}`,
    ];
    for (const body of bodies) {
      const parsed = parseStrictJsonText(body);
      assert.deepEqual(parsed, { ok: false, problem: { kind: 'too_deep', limit: 64 } });
      assert.ok(!parsed.ok);
      assert.equal(
        describeJsonProblem(parsed.problem),
        'the request body nests arrays and objects more than 64 levels deep; at most 64 are accepted',
      );
    }
  });

  it('accepts 64 levels, and brackets inside strings do not count', () => {
    const deepest = `${'['.repeat(63)}"${'['.repeat(100)}\\\\"${']'.repeat(63)}`;
    assert.equal(parseStrictJsonText(`{"a":${deepest}}`).ok, true);
    assert.equal(parseStrictJsonText(`{"a":[${deepest}]}`).ok, false);
    assert.equal(parseStrictJsonText(`{"a":"\\\\"}`).ok, true);
  });
});
