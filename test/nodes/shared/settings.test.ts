import assert from 'node:assert/strict';
import { describe as describeValue, numberSetting } from '../../../nodes/shared/settings';
import { MAX_MESSAGE_DEPTH, tooDeepProperty } from '../../../nodes/shared/node-helpers';

describe('nodes/shared/settings: numberSetting', () => {
  it('gives undefined for an empty field (the node default applies) and the number otherwise', () => {
    for (const empty of [undefined, null, '', '   ']) assert.equal(numberSetting(empty, 'rate'), undefined);
    assert.equal(numberSetting('0.25', 'rate'), 0.25);
    assert.equal(numberSetting(' 7 ', 'top', { integer: true, min: 1 }), 7);
    assert.equal(numberSetting(3, 'top', { integer: true, min: 1 }), 3);
    assert.equal(numberSetting('-1', 'threshold', { min: -1, max: 1 }), -1);
  });

  it('refuses a typo instead of ignoring it, naming the field, the rule and the value', () => {
    const cases: [unknown, Parameters<typeof numberSetting>[2], RegExp][] = [
      ['0.1x', {}, /rate must be a number, got "0.1x"$/],
      ['abc', { integer: true, min: 1 }, /rate must be a whole number >= 1, got "abc"$/],
      ['1.5', { integer: true, min: 0 }, /rate must be a whole number >= 0, got "1.5"$/],
      ['0', { min: 0, aboveMin: true, max: 1 }, /rate must be a number > 0 and <= 1, got "0"$/],
      ['2', { min: -1, max: 1 }, /rate must be a number >= -1 and <= 1, got "2"$/],
      ['Infinity', {}, /got "Infinity"/],
      [true, {}, /got true/],
      [{}, {}, /got \{\}/],
    ];
    for (const [value, rules, expected] of cases) assert.throws(() => numberSetting(value, 'rate', rules), expected);
  });
});

describe('nodes/shared/settings: describe', () => {
  it('names what was received without printing all of it', () => {
    assert.equal(describeValue(undefined), 'nothing (undefined)');
    assert.equal(describeValue(null), 'null');
    assert.equal(describeValue([1, 2]), 'an array of length 2');
    assert.equal(describeValue(new Float32Array(3)), 'a Float32Array of length 3');
    assert.equal(describeValue(Buffer.alloc(4)), 'a Buffer of 4 bytes');
    assert.equal(describeValue('x'.repeat(50)), `the string "${'x'.repeat(40)}…"`);
    assert.equal(describeValue(3), 'the number 3');
    assert.equal(describeValue({ a: 1, b: 2 }), 'an object with fields {a, b}');
    assert.equal(describeValue({}), 'an empty object');
  });
});

describe('nodes/shared/node-helpers: tooDeepProperty', () => {
  function nested(depth: number): unknown {
    let v: unknown = [1];
    for (let i = 1; i < depth; i++) v = i % 2 ? { v } : [v];
    return v;
  }

  it(`finds a property nested more than ${MAX_MESSAGE_DEPTH} levels, without recursing (20,000 levels)`, () => {
    assert.equal(tooDeepProperty({ payload: nested(MAX_MESSAGE_DEPTH), topic: 't' }), undefined);
    assert.equal(tooDeepProperty({ payload: [1], label: nested(MAX_MESSAGE_DEPTH + 1) }), 'label');
    assert.equal(tooDeepProperty({ payload: nested(20_000) }), 'payload');
  });

  it('ignores typed arrays, cycles and the HTTP request and response objects', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    assert.equal(tooDeepProperty({ payload: cyclic, vector: new Float32Array(4), req: nested(1000), res: nested(1000) }), undefined);
  });
});
