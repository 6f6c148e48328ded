import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/hff/config';

describe('hff/config: layers', function () {
  it('reads widths as dense layers and accepts layer descriptions, in any mix', function () {
    const config = resolveConfig({ inputSize: 8, layers: [6, { kind: 'dense', units: 4 }] });
    assert.deepEqual(config.stack, [
      { kind: 'dense', units: 6 },
      { kind: 'dense', units: 4 },
    ]);
    assert.deepEqual(config.layers, [6, 4], 'each layer output width');
  });

  it('refuses a bad layer, naming it and what is accepted', function () {
    const bad = (layer: unknown) => () => resolveConfig({ inputSize: 8, layers: [4, layer as number] });
    assert.throws(bad(0), /^Error: layers\[1\] must be a positive integer, got 0$/);
    assert.throws(bad({ kind: 'dense', units: 2.5 }), /^Error: layers\[1\]\.units must be a positive integer, got 2\.5$/);
    assert.throws(bad({ kind: 'dense', units: 3, stride: 2 }), /^Error: layers\[1\]: a dense layer has only kind and units, got stride too$/);
    assert.throws(
      bad({ kind: 'pool', size: 2 }),
      /layers\[1\] must be a width \(a positive integer\) or a layer of kind dense, conv2d such as \{"kind": "dense", "units": 1000\}, got \{"kind":"pool","size":2\}/,
    );
    assert.throws(bad({ kind: 'conv2d', filters: 8 }), /^Error: layers\[1\]\.kernel must be a positive integer, got undefined$/);
    assert.throws(
      bad({ kind: 'conv2d', filters: 8, kernel: 3, stride: 2 }),
      /^Error: layers\[1\]: a conv2d layer has only kind, filters, kernel and pool, got stride too$/,
    );
    assert.throws(bad(null), /layers\[1\] must be a width/);
    assert.throws(bad({ kind: 'toString' }), /layers\[1\] must be a width/);
  });
});

describe('hff/config: the default random teaching branch', function () {
  const conv = [{ kind: 'conv2d' as const, filters: 8, kernel: 3, pool: 2 }];

  it('is kept for images it fits and left out, unasked, where its first layer would pass the weight limit', function () {
    const small = resolveConfig({ inputSize: 64 * 64 * 3, inputShape: [64, 64, 3], layers: conv });
    assert.deepEqual(small.teaching.transferLayers, [1000, 1000, 1000]);
    const large = resolveConfig({ inputSize: 224 * 224 * 3, inputShape: [224, 224, 3], layers: conv });
    assert.deepEqual(large.teaching.transferLayers, [], '150528 x 1000 weights would pass the 1e8 limit');
    assert.deepEqual(large.stack, conv);
  });

  it('is still refused when asked for explicitly on such images', function () {
    assert.throws(
      () => resolveConfig({ inputSize: 224 * 224 * 3, inputShape: [224, 224, 3], layers: conv, teaching: { transferLayers: [1000] } }),
      /teaching.transferLayers \[1000\] on an input of 150528 would hold 1\.51e\+8 weights/,
    );
  });
});
