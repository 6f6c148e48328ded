/**
 * The feature stage (issue 15 part 4): an ONNX image-to-vector network before the HFF layers, recorded in the model
 * file by checksum. The ONNX models are built here (test/feature-stage/fixtures.ts).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createEngine, onnxAvailability } from '../../src/engines/backend';
import type { Engine } from '../../src/engines/types';
import { FeatureStage } from '../../src/feature-stage/feature-stage';
import { HffNetwork, evaluateNetwork, loadNetwork, saveNetwork, trainNetwork } from '../../src/hff';
import { exportOnnx } from '../../src/onnx-export';
import { tempDir } from '../helpers/data';
import { skipForEnvironment } from '../helpers/skip';
import { COLOURS, channelMeansModel, colourImages, convTrunkModel, writeModel } from './fixtures';

interface OrtModule {
  InferenceSession: { create(path: string): Promise<{ run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown }>> }> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
}

const SIDE = 8;
const SHAPE: [number, number, number] = [SIDE, SIDE, 3];

/** The exported graph, run by onnxruntime-node's public API on images, gives the library's final-layer class scores. */
async function assertExportScoresLikeLibrary(net: HffNetwork, file: string): Promise<void> {
  const ort = require('onnxruntime-node') as OrtModule;
  const session = await ort.InferenceSession.create(file);
  const probe = colourImages(SIDE, 3, 7);
  const result = await session.run({ input: new ort.Tensor('float32', probe.images, [probe.n, probe.size]) });
  const library = net.forward(probe.images, probe.n);
  const expected = library[library.length - 1].classScores;
  const got = result.scores.data as Float32Array;
  assert.equal(got.length, expected.length);
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - expected[i]) < 1e-4, `score ${i}: ${got[i]} vs ${expected[i]}`);
}

describe('feature stage (ONNX image-to-vector network before the layers)', function () {
  let engine: Engine;
  let dir: string;

  before(async function () {
    const a = onnxAvailability();
    if (!a.available) skipForEnvironment(this, `onnxruntime-node unavailable (${a.reason}): the feature stage runs on it`);
    engine = await createEngine('wasm');
    dir = tempDir();
  });

  describe('FeatureStage', function () {
    it('normalises per channel, in the layout and channel order given, and reads the output size from the file', function () {
      const images = colourImages(SIDE, 2, 1);
      for (const layout of ['nchw', 'nhwc'] as const) {
        for (const channelOrder of ['rgb', 'bgr'] as const) {
          const file = writeModel(dir, `means-${layout}.onnx`, channelMeansModel({ layout }));
          const mean = [0.1, 0.2, 0.3];
          const std = [0.5, 0.25, 2];
          const stage = FeatureStage.open({ file, inputShape: SHAPE, layout, channelOrder, mean, std });
          try {
            assert.equal(stage.config.outputSize, 3);
            assert.match(stage.config.sha256, /^[0-9a-f]{64}$/);
            const out = stage.run(images.images, images.n);
            for (let b = 0; b < images.n; b++) {
              for (let ch = 0; ch < 3; ch++) {
                const from = channelOrder === 'bgr' ? 2 - ch : ch;
                let sum = 0;
                for (let p = 0; p < SIDE * SIDE; p++) sum += images.images[b * images.size + p * 3 + from];
                const expected = (sum / (SIDE * SIDE) - mean[ch]) / std[ch];
                assert.ok(Math.abs(out[b * 3 + ch] - expected) < 1e-5, `${layout} ${channelOrder} image ${b} channel ${ch}: ${out[b * 3 + ch]} vs ${expected}`);
              }
            }
          } finally {
            stage.dispose();
          }
        }
      }
    });

    it('runs a graph that fixes the batch at 1 one image at a time, with the same results', function () {
      const images = colourImages(SIDE, 3, 2);
      const free = FeatureStage.open({ file: writeModel(dir, 'free.onnx', channelMeansModel()), inputShape: SHAPE });
      const fixed = FeatureStage.open({ file: writeModel(dir, 'fixed.onnx', channelMeansModel({ fixedBatch: true })), inputShape: SHAPE });
      try {
        assert.deepEqual(Array.from(fixed.run(images.images, images.n)), Array.from(free.run(images.images, images.n)));
      } finally {
        free.dispose();
        fixed.dispose();
      }
    });

    it('refuses what it cannot use, with errors that say what is wrong', function () {
      const file = writeModel(dir, 'conv.onnx', convTrunkModel(3, 8));
      assert.throws(
        () => FeatureStage.open({ file: path.join(dir, 'missing.onnx'), inputShape: SHAPE }),
        /feature stage ONNX file not found: looked for .*missing\.onnx/,
      );
      assert.throws(() => FeatureStage.open({ file: writeModel(dir, 'junk.onnx', Buffer.from('not onnx')), inputShape: SHAPE }), /is not a usable ONNX model/);
      assert.throws(() => FeatureStage.open({ file, inputShape: SHAPE, outputName: 'logits' }), /has no output "logits" \(its outputs: features\)/);
      // The convolution has 3 input channels: a grey image cannot feed it.
      assert.throws(() => FeatureStage.open({ file, inputShape: [SIDE, SIDE, 1] }), /failed on input \[1, 1, 8, 8\]/);
      assert.throws(() => FeatureStage.open({ file, inputShape: SHAPE, mean: [0.5, 0.5] }), /mean must be one number or 3 numbers/);
      assert.throws(() => FeatureStage.open({ file, inputShape: SHAPE, std: [0] }), /std must be above 0/);
      assert.throws(
        () => FeatureStage.open({ file, inputShape: [SIDE, SIDE, 2] as unknown as [number, number, number] }),
        /inputShape must be \[height, width, channels\] with 1 or 3 channels/,
      );
    });
  });

  describe('in a network', function () {
    it('trains the layers on the stage output, saves, reloads from the model folder and refuses a different file', async function () {
      const stageFile = writeModel(dir, 'trunk.onnx', convTrunkModel(3, 16));
      const train = colourImages(SIDE, 30, 3);
      const test = colourImages(SIDE, 10, 4);
      const classes = Object.keys(COLOURS);
      const before = engine.liveTensors();
      const net = HffNetwork.create(
        engine,
        { inputSize: train.size, layers: [32, 32], seed: 2, optimizer: { learningRate: 0.01 }, featureStage: { file: stageFile, inputShape: SHAPE } },
        classes,
      );
      try {
        assert.equal(net.config.featureStage?.outputSize, 16);
        assert.deepEqual(net.config.inputShape, SHAPE);
        assert.equal(net.config.centerInput, false, 'feature vectors are not centred like pixels by default');
        assert.equal(net.layerInputSize(0), train.size, 'layer 0 takes images; the stage runs inside');
        const data = { ...train, inputSize: train.size };
        await trainNetwork(net, data, { epochs: 15, batchSize: 20 });
        const evaluation = await evaluateNetwork(net, { ...test, inputSize: test.size });
        assert.ok(evaluation.accuracy >= 0.9, `accuracy on the stage's features ${evaluation.accuracy}`);

        const modelDir = path.join(dir, 'model');
        await saveNetwork(modelDir, net);
        await exportOnnx(modelDir, path.join(dir, 'trunk-model.onnx'));
        await assertExportScoresLikeLibrary(net, path.join(dir, 'trunk-model.onnx'));
        const loaded = await loadNetwork(modelDir, engine);
        try {
          assert.deepEqual(
            loaded.predict(test.images, test.n).map((p) => p.label),
            net.predict(test.images, test.n).map((p) => p.label),
          );
        } finally {
          loaded.dispose();
        }

        // Moved beside the model (another machine): found there by name.
        const moved = path.join(modelDir, 'trunk.onnx');
        fs.renameSync(stageFile, moved);
        const fromFolder = await loadNetwork(modelDir, engine);
        fromFolder.dispose();

        // A different network under the same name is refused.
        fs.writeFileSync(moved, convTrunkModel(3, 16, 99));
        await assert.rejects(
          loadNetwork(modelDir, engine),
          /trunk\.onnx is not the file this model was made with: its SHA-256 is [0-9a-f]{16}\.\.\., the model records [0-9a-f]{16}\.\.\./,
        );
        fs.rmSync(moved);
        await assert.rejects(loadNetwork(modelDir, engine), /feature stage ONNX file not found: looked for .*trunk\.onnx and .*model.trunk\.onnx/);
      } finally {
        net.dispose();
      }
      assert.equal(engine.liveTensors(), before, 'no engine tensors left behind');
    });

    it("offers the stage's vectors to taught classes, and exports stage and layers as one ONNX graph that scores like the library", async function () {
      const stageFile = writeModel(dir, 'means.onnx', channelMeansModel({ layout: 'nhwc' }));
      const train = colourImages(SIDE, 20, 5, ['red', 'green']);
      const net = HffNetwork.create(
        engine,
        {
          inputSize: train.size,
          layers: [16],
          seed: 4,
          optimizer: { learningRate: 0.01 },
          featureStage: { file: stageFile, inputShape: SHAPE, layout: 'nhwc', channelOrder: 'bgr', mean: [0.2, 0.3, 0.4], std: [0.5, 0.6, 0.7] },
          teaching: { transferLayers: [] },
        },
        train.classes,
      );
      try {
        await trainNetwork(net, { ...train, inputSize: train.size }, { epochs: 5, batchSize: 20 });
        net.setTrainedReference(train.images, train.n);
        const blue = colourImages(SIDE, 8, 6, ['blue']);
        net.teach('blue', blue.images.subarray(0, 4 * blue.size), 4);
        const scores = net.teachingRepresentation.scores;
        assert.ok('features' in scores, `the leave-one-out choice weighs the stage's vectors: ${JSON.stringify(scores)}`);
        const later = net.predict(blue.images.subarray(4 * blue.size), 4);
        assert.deepEqual(
          later.map((p) => p.label),
          ['blue', 'blue', 'blue', 'blue'],
        );

        // The export copies the stage in front of the layers: one standard ONNX graph from image to class scores.
        const modelDir = path.join(dir, 'taught');
        await saveNetwork(modelDir, net);
        const out = path.join(dir, 'taught.onnx');
        const summary = await exportOnnx(modelDir, out);
        assert.equal(summary.inputSize, train.size);
        assert.deepEqual(summary.inputShape, SHAPE);
        assert.ok(!summary.warnings.some((w) => /feature stage/.test(w)), summary.warnings.join('\n'));
        await assertExportScoresLikeLibrary(net, out);

        // A stage at another opset than the one asked for stays outside the graph, with a warning.
        const apart = await exportOnnx(modelDir, path.join(dir, 'apart.onnx'), { opset: 15 });
        assert.equal(apart.inputSize, 3);
        assert.match(apart.warnings[0], /the feature stage could not be made part of the graph \(it uses opset 13, the export 15.*run means\.onnx first/);
      } finally {
        net.dispose();
      }
    });
  });
});
