/**
 * The network codec: what HffNetwork and the ONNX export read from model files, including files written before the
 * current code (fixtures/number-layers-model was saved by main's code of 2026-12-05, with main's predictions beside it).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createEngine } from '../../src/engines/backend';
import type { Engine } from '../../src/engines/types';
import { HffNetwork, loadNetwork } from '../../src/hff';
import { decodeNetwork, encodeNetwork, loadModelFiles, taughtClassNames } from '../../src/model-file';
import { projectRoot } from '../helpers/data';

const FIXTURES = path.join(projectRoot, 'test', 'model-file', 'fixtures');
const OLD_MODEL = path.join(FIXTURES, 'number-layers-model');

interface Expected {
  probes: number[][];
  predictions: { label: string; index: number; score: number; margin: number; known: boolean; top: { label: string; score: number }[] }[];
  outputs: number[][];
}

describe('model-file: network codec', function () {
  let engine: Engine;
  const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'number-layers-model.expected.json'), 'utf8')) as Expected;

  before(async function () {
    engine = await createEngine('cpu');
  });

  it('loads a model file written by earlier code and predicts as that code did', async function () {
    const net = await loadNetwork(OLD_MODEL, engine);
    try {
      assert.deepEqual(net.classes, ['left', 'right', 'zigzag']);
      assert.deepEqual(net.taughtClassNames(), ['zigzag']);
      assert.deepEqual(net.metadata, { note: 'written by main before LayerSpec' });
      const x = Float32Array.from(expected.probes.flat());
      const predictions = net.predict(x, expected.probes.length, { topK: 3 });
      predictions.forEach((p, i) => {
        const want = expected.predictions[i];
        assert.equal(p.label, want.label, `probe ${i}`);
        assert.equal(p.known, want.known, `probe ${i}`);
        assert.ok(Math.abs(p.score - want.score) < 1e-6, `probe ${i}: score ${p.score} vs ${want.score}`);
        assert.ok(Math.abs(p.margin - want.margin) < 1e-6, `probe ${i}: margin ${p.margin} vs ${want.margin}`);
        assert.deepEqual(
          p.top.map((t) => t.label),
          want.top.map((t) => t.label),
          `probe ${i}`,
        );
      });
      net.forward(x, expected.probes.length).forEach((o, l) => {
        const diff = Math.max(...Array.from(o.z, (v, j) => Math.abs(v - expected.outputs[l][j])));
        assert.ok(diff < 1e-6, `layer ${l} output moved by ${diff}`);
      });
    } finally {
      net.dispose();
    }
  });

  it('decodes what it encodes, without the network, and names the taught classes', async function () {
    const files = await loadModelFiles(OLD_MODEL);
    const model = decodeNetwork(files, OLD_MODEL);
    assert.deepEqual(model.counts, [40, 40, 2]);
    assert.equal(model.version, 6);
    assert.deepEqual(
      model.params.map((p) => [p.weight.length, p.bias.length, p.prototypes.length]),
      [
        [30, 5, 15],
        [20, 4, 12],
      ],
    );
    assert.deepEqual(taughtClassNames(files, model.classes), ['zigzag']);
    const again = decodeNetwork(encodeNetwork(model, 'tfjs-cpu'));
    assert.deepEqual(again, model);
    // The network writes the same files as the codec plus its taught part.
    const net = HffNetwork.fromModelFiles(engine, files, OLD_MODEL);
    try {
      const written = net.toModelFiles();
      assert.deepEqual(decodeNetwork(written), model);
      assert.deepEqual(Object.keys(written.manifest), ['kind', 'config', 'classes', 'counts', 'version', 'engine', 'metadata', 'trainedReference', 'taught']);
    } finally {
      net.dispose();
    }
  });

  it('stores each layer as a description; widths in older files read as dense layers', async function () {
    const old = decodeNetwork(await loadModelFiles(OLD_MODEL), OLD_MODEL);
    assert.deepEqual(old.config.stack, [
      { kind: 'dense', units: 5 },
      { kind: 'dense', units: 4 },
    ]);
    assert.deepEqual(old.config.layers, [5, 4]);
    const files = encodeNetwork(old, 'tfjs-cpu');
    const stored = files.manifest.config as Record<string, unknown>;
    assert.deepEqual(stored.layers, old.config.stack);
    assert.equal('stack' in stored, false, 'one list of layers in the file');
    assert.deepEqual(Object.keys(stored).slice(0, 2), ['inputSize', 'layers']);
    assert.deepEqual(decodeNetwork(files).config, old.config);
    const unknownKind = { ...files, manifest: { ...files.manifest, config: { ...stored, layers: [{ kind: 'lstm', units: 8 }] } } };
    assert.throws(
      () => decodeNetwork(unknownKind, '/m'),
      /\/m: invalid architecture: layers\[0\] must be a width \(a positive integer\) or a layer of kind dense, conv2d/,
    );
  });

  it('refuses a manifest that is not a network, naming the source', async function () {
    const files = await loadModelFiles(OLD_MODEL);
    assert.throws(() => decodeNetwork({ ...files, manifest: { ...files.manifest, kind: 'other' } }, '/m'), /\/m: not an HFF network \(kind "other"\)/);
    assert.throws(
      () => decodeNetwork({ ...files, manifest: { ...files.manifest, counts: [1] } }, '/m'),
      /\/m: classes and counts must be arrays of the same length/,
    );
    assert.throws(
      () => taughtClassNames({ ...files, manifest: { ...files.manifest, taught: { demos: [0, 2] } } }, ['left', 'right', 'zigzag'], '/m'),
      /\/m: taught.demos must give a count of kept demonstrations for each of the 3 classes/,
    );
  });
});
