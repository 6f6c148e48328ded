/**
 * `hff export-stage`: a model's conv blocks as a feature stage ONNX (image -> vector). Run by onnxruntime-node's
 * public API on NCHW images, and opened as a model's feature stage, it gives the library's own forward pass (the
 * blocks' globally pooled unit vectors) within 1e-4.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createEngine, onnxAvailability } from '../../src/engines/backend';
import type { Engine } from '../../src/engines/types';
import { FeatureStage } from '../../src/feature-stage/feature-stage';
import { HffNetwork, saveNetwork, trainNetwork } from '../../src/hff';
import { STAGE_INPUT, STAGE_OUTPUT, exportFeatureStage } from '../../src/onnx-export/feature-stage';
import { maxAbsDiff } from '../engines/reference';
import { COLOURS, colourImages } from '../feature-stage/fixtures';
import { lastJson, runHff } from '../cli/fixtures';
import { tempDir } from '../helpers/data';
import { skipForEnvironment } from '../helpers/skip';

interface OrtModule {
  InferenceSession: {
    create(path: string): Promise<{
      inputNames: readonly string[];
      outputNames: readonly string[];
      run(feeds: Record<string, unknown>): Promise<Record<string, { data: ArrayLike<number>; dims: readonly number[] }>>;
      release(): Promise<void>;
    }>;
  };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
}

const SIDE = 8;
const CLASSES = Object.keys(COLOURS);

/** HWC images -> NCHW, the stage's input layout. */
function toNchw(images: Float32Array, n: number): Float32Array {
  const plane = SIDE * SIDE;
  const out = new Float32Array(images.length);
  for (let b = 0; b < n; b++)
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[b * plane * 3 + c * plane + p] = images[b * plane * 3 + p * 3 + c];
  return out;
}

/** The library's blocks' z (unit pooled vectors), per image: the top one, or all side by side over sqrt(blocks). */
function libraryVector(net: HffNetwork, images: Float32Array, n: number, blocks: number, vector: 'last' | 'blocks'): Float32Array {
  const outputs = net.forward(images, n).slice(0, blocks);
  if (vector === 'last') return outputs[blocks - 1].z;
  const widths = outputs.map((o) => o.z.length / n);
  const total = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(n * total);
  for (let b = 0; b < n; b++) {
    let at = 0;
    outputs.forEach((o, i) => {
      for (let j = 0; j < widths[i]; j++) out[b * total + at + j] = o.z[b * widths[i] + j] / Math.sqrt(blocks);
      at += widths[i];
    });
  }
  return out;
}

describe('hff export-stage (conv blocks as a feature stage ONNX)', function () {
  let engine: Engine;
  let ort: OrtModule;
  let dir: string;
  let net: HffNetwork;
  const train = colourImages(SIDE, 30, 1);
  const probe = colourImages(SIDE, 3, 9);

  before(async function () {
    const a = onnxAvailability();
    if (!a.available) skipForEnvironment(this, `onnxruntime-node unavailable (${a.reason}): the check runs the stage on it`);
    ort = require('onnxruntime-node') as OrtModule;
    engine = await createEngine('onnx');
    dir = tempDir();
    net = HffNetwork.create(
      engine,
      {
        inputSize: SIDE * SIDE * 3,
        inputShape: [SIDE, SIDE, 3],
        layers: [{ kind: 'conv2d', filters: 6, kernel: 3, pool: 2 }, { kind: 'conv2d', filters: 5, kernel: 3, pool: 2 }, 12],
        seed: 4,
        optimizer: { learningRate: 0.01 },
      },
      CLASSES,
    );
    await trainNetwork(net, { ...train, inputSize: train.size }, { epochs: 2, batchSize: 16 });
    await saveNetwork(path.join(dir, 'model'), net);
  });

  after(function () {
    net?.dispose();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const vector of ['last', 'blocks'] as const) {
    it(`gives the library's forward pass within 1e-4: ${vector}`, async function () {
      const out = path.join(dir, `stage-${vector}.onnx`);
      const summary = await exportFeatureStage(path.join(dir, 'model'), out, vector);
      assert.deepEqual(summary.inputShape, [SIDE, SIDE, 3]);
      assert.deepEqual(summary.blocks, ['c6k3p2', 'c5k3p2']);
      assert.equal(summary.outputSize, vector === 'last' ? 5 : 11);
      assert.deepEqual(summary.trainedOn, CLASSES);
      const expected = libraryVector(net, probe.images, probe.n, 2, vector);

      const session = await ort.InferenceSession.create(out);
      try {
        assert.deepEqual([...session.inputNames], [STAGE_INPUT]);
        assert.deepEqual([...session.outputNames], [STAGE_OUTPUT]);
        const result = await session.run({ [STAGE_INPUT]: new ort.Tensor('float32', toNchw(probe.images, probe.n), [probe.n, 3, SIDE, SIDE]) });
        assert.deepEqual([...result[STAGE_OUTPUT].dims], [probe.n, summary.outputSize]);
        const diff = maxAbsDiff(result[STAGE_OUTPUT].data as Float32Array, expected);
        assert.ok(diff < 1e-4, `onnxruntime-node: differs by ${diff}`);
      } finally {
        await session.release();
      }

      // Its default settings (NCHW, RGB, mean 0, std 1) are the ones a feature stage takes without options.
      const stage = FeatureStage.open({ file: out, inputShape: [SIDE, SIDE, 3] });
      try {
        assert.equal(stage.config.outputSize, summary.outputSize);
        const diff = maxAbsDiff(stage.run(probe.images, probe.n), expected);
        assert.ok(diff < 1e-4, `as a feature stage: differs by ${diff}`);
      } finally {
        stage.dispose();
      }
    });
  }

  it('refuses a model without conv blocks, or whose input is already a feature stage, naming why', async function () {
    const dense = HffNetwork.create(engine, { inputSize: SIDE * SIDE * 3, inputShape: [SIDE, SIDE, 3], layers: [8], seed: 1 }, CLASSES);
    try {
      await saveNetwork(path.join(dir, 'dense'), dense);
    } finally {
      dense.dispose();
    }
    await assert.rejects(exportFeatureStage(path.join(dir, 'dense'), path.join(dir, 'x.onnx'), 'last'), /has no convolutional blocks \(its layers: 8\)/);
    const staged = HffNetwork.create(
      engine,
      { inputSize: SIDE * SIDE * 3, layers: [8], seed: 1, featureStage: { file: path.join(dir, 'stage-last.onnx'), inputShape: [SIDE, SIDE, 3] } },
      CLASSES,
    );
    try {
      await saveNetwork(path.join(dir, 'staged'), staged);
    } finally {
      staged.dispose();
    }
    await assert.rejects(exportFeatureStage(path.join(dir, 'staged'), path.join(dir, 'y.onnx'), 'last'), /runs a feature stage of its own/);
    assert.equal(fs.existsSync(path.join(dir, 'x.onnx')), false);
  });

  it('hff export-stage writes the file and prints its summary; a bad --vector is refused', async function () {
    const out = path.join(dir, 'cli-stage.onnx');
    const r = await runHff(['export-stage', '--model', path.join(dir, 'model'), '--onnx', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const summary = lastJson<{ path: string; outputSize: number; vector: string }>(r);
    assert.equal(summary.path, out);
    assert.equal(summary.vector, 'blocks');
    assert.equal(summary.outputSize, 11);
    assert.ok(fs.statSync(out).size > 0);
    const bad = await runHff(['export-stage', '--model', path.join(dir, 'model'), '--onnx', out, '--vector', 'middle']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--vector.*'middle' is invalid.*last, blocks/s);
  });
});
