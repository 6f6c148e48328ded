/**
 * The backprop baseline with convolutional blocks: its maths (src/baselines/backprop-maths.ts) in float64 against
 * finite differences, one optimiser step on each engine (tfjs, onnxruntime) against the float64 gradients, learning
 * a small image task, and tensor bookkeeping on tfjs.
 */
import assert from 'node:assert/strict';
import { BackpropNetwork, type BackpropOptions, type BackpropParams, backpropSpecs, resolveBackpropConfig } from '../../src/baselines/backprop';
import { backpropGradients, backpropLogits } from '../../src/baselines/backprop-maths';
import { OnnxBackpropNetwork } from '../../src/baselines/backprop-onnx';
import { evaluateIndices, trainEpochs } from '../../src/baselines/common';
import { onnxAvailability, selectBackend } from '../../src/engines/backend';
import { tf } from '../../src/engines/tfjs/tf';
import type { LayerOption } from '../../src/hff/config';
import { SeededRandom } from '../../src/hff/random';
import { skipForEnvironment } from '../helpers/skip';
import { Float64Ops, Matrix } from '../engines/maths/float64-ops';
import { numericGradient, relativeError } from './toy';

const ops = new Float64Ops();
const conv = (filters: number, kernel: number, pool: number): LayerOption => ({ kind: 'conv2d', filters, kernel, pool });

/** Two stacks: pooling under a block (the input gradient meets max pooling), and a block straight under the head. */
const STACKS: [string, LayerOption[]][] = [
  ['c3k3p2, c4k3, dense 5', [conv(3, 3, 2), conv(4, 3, 1), 5]],
  ['c3k3, c4k3p2', [conv(3, 3, 1), conv(4, 3, 2)]],
];

interface Case {
  options: BackpropOptions;
  params: BackpropParams;
  x: Float32Array;
  labels: Int32Array;
  batch: number;
}

function makeCase(layers: LayerOption[], seed: number): Case {
  const random = new SeededRandom(seed);
  const options: BackpropOptions = {
    inputSize: 6 * 6 * 2,
    inputShape: [6, 6, 2],
    classes: 3,
    layers,
    optimizer: { kind: 'sgd', learningRate: 1, momentum: 0 },
  };
  const created = BackpropNetwork.create({ ...options, seed });
  const params = created.readParams();
  created.dispose();
  // Biases off zero so that ReLU and pooling see a mix of signs.
  params.layers.forEach((l) => l.bias.forEach((_, i) => (l.bias[i] = 0.05 * random.gaussian())));
  const batch = 3;
  return { options, params, x: Float32Array.from({ length: batch * 72 }, () => random.next()), labels: Int32Array.from([0, 2, 1]), batch };
}

function float64Values(c: Case) {
  const config = resolveBackpropConfig(c.options);
  const specs = backpropSpecs(config);
  const weights = c.params.layers.map((l) => Matrix.of(l.weight, l.weight.length / l.bias.length, l.bias.length));
  const biases = c.params.layers.map((l) => Matrix.of(l.bias, 1, l.bias.length));
  const x = Matrix.of(c.x, c.batch, c.options.inputSize);
  const onehot = new Matrix(c.batch, 3);
  c.labels.forEach((label, b) => (onehot.data[b * 3 + label] = 1));
  return { specs, params: { weights, biases }, x, onehot };
}

function meanCrossEntropy(logits: Matrix, labels: Int32Array): number {
  let total = 0;
  for (let b = 0; b < logits.rows; b++) {
    const z = Array.from(logits.data.subarray(b * logits.cols, (b + 1) * logits.cols));
    const m = Math.max(...z);
    total -= z[labels[b]] - m - Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
  }
  return total / logits.rows;
}

describe('backprop CNN baseline', function () {
  before(async function () {
    await selectBackend('wasm');
  });

  for (const [what, layers] of STACKS) {
    it(`in float64, gives the cross-entropy gradients of every weight and bias by finite differences (${what})`, function () {
      const c = makeCase(layers, 4);
      const { specs, params, x, onehot } = float64Values(c);
      const loss = () => meanCrossEntropy(backpropLogits(ops, specs, x, params), c.labels);
      const g = backpropGradients(ops, specs, x, params, onehot, Matrix.of([1 / c.batch], 1, 1));
      params.weights.forEach((w, l) => {
        const numW = numericGradient(w.data, loss);
        const numB = numericGradient(params.biases[l].data, loss);
        assert.ok(relativeError(g.gradWeights[l].data, numW) < 1e-5, `layer ${l} weight: relative error ${relativeError(g.gradWeights[l].data, numW)}`);
        assert.ok(relativeError(g.gradBiases[l].data, numB) < 1e-5, `layer ${l} bias: relative error ${relativeError(g.gradBiases[l].data, numB)}`);
      });
    });
  }

  for (const engine of ['tfjs', 'onnx'] as const) {
    it(`${engine}: one SGD step moves every parameter by the float64 gradient, and reports the float64 loss`, function () {
      if (engine === 'onnx') {
        const a = onnxAvailability();
        if (!a.available) skipForEnvironment(this, `onnx engine unavailable (${a.reason})`);
      }
      for (const [what, layers] of STACKS) {
        const c = makeCase(layers, 6);
        const { specs, params, x, onehot } = float64Values(c);
        const expected = backpropGradients(ops, specs, x, params, onehot, Matrix.of([1 / c.batch], 1, 1));
        const expectedLoss = meanCrossEntropy(expected.logits, c.labels);
        const net = engine === 'onnx' ? OnnxBackpropNetwork.fromParams(c.options, c.params, { threads: 1 }) : BackpropNetwork.fromParams(c.options, c.params);
        try {
          const { loss } = net.trainBatch(c.x, c.batch, c.labels);
          assert.ok(Math.abs(loss - expectedLoss) < 1e-5, `${what}: loss ${loss}, float64 ${expectedLoss}`);
          const after = net.readParams();
          c.params.layers.forEach((before, l) => {
            const stepW = before.weight.map((v, i) => v - after.layers[l].weight[i]);
            const stepB = before.bias.map((v, i) => v - after.layers[l].bias[i]);
            assert.ok(
              relativeError(stepW, expected.gradWeights[l].data) < 1e-4,
              `${what}: layer ${l} weight step, relative error ${relativeError(stepW, expected.gradWeights[l].data)}`,
            );
            assert.ok(
              relativeError(stepB, expected.gradBiases[l].data) < 1e-4,
              `${what}: layer ${l} bias step, relative error ${relativeError(stepB, expected.gradBiases[l].data)}`,
            );
          });
        } finally {
          net.dispose();
        }
      }
    });
  }

  /** 8x8 grey images, class = the quadrant holding a bright 3x3 square, on noise. */
  function quadrants(n: number, seed: number) {
    const random = new SeededRandom(seed);
    const images = new Float32Array(n * 64);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const label = i % 4;
      labels[i] = label;
      const top = (label >> 1) * 4 + Math.floor(random.next() * 2);
      const left = (label & 1) * 4 + Math.floor(random.next() * 2);
      for (let p = 0; p < 64; p++) images[i * 64 + p] = 0.3 * random.next();
      for (let y = top; y < top + 3; y++) for (let x = left; x < left + 3; x++) images[i * 64 + y * 8 + x] = 0.7 + 0.3 * random.next();
    }
    return { n, inputSize: 64, images, labels };
  }

  for (const engine of ['tfjs', 'onnx'] as const) {
    it(`${engine}: learns which quadrant of a small image holds a square (c4k3p2, c8k3p2, linear head)`, async function () {
      if (engine === 'onnx') {
        const a = onnxAvailability();
        if (!a.available) skipForEnvironment(this, `onnx engine unavailable (${a.reason})`);
      }
      const options: BackpropOptions = {
        inputSize: 64,
        inputShape: [8, 8, 1],
        classes: 4,
        layers: [conv(4, 3, 2), conv(8, 3, 2)],
        seed: 3,
        optimizer: { learningRate: 0.01 },
      };
      const net = engine === 'onnx' ? OnnxBackpropNetwork.create(options, { threads: 1 }) : BackpropNetwork.create(options);
      try {
        const test = quadrants(200, 2);
        const before = await evaluateIndices((xb, b) => net.predict(xb, b), test);
        await trainEpochs(net, quadrants(400, 1), { epochs: 6, batchSize: 16, seed: 1 });
        const { accuracy } = await evaluateIndices((xb, b) => net.predict(xb, b), test);
        assert.ok(accuracy > 0.9, `accuracy ${accuracy} after training, ${before.accuracy} before (chance 0.25)`);
      } finally {
        net.dispose();
      }
    });
  }

  it('tfjs: the live tensor count stays flat through training and prediction and returns after dispose', async function () {
    const start = tf().memory().numTensors;
    const net = BackpropNetwork.create({ inputSize: 72, inputShape: [6, 6, 2], classes: 3, layers: [conv(3, 3, 2), conv(4, 3, 1), 5] });
    const created = tf().memory().numTensors;
    const random = new SeededRandom(1);
    const data = {
      n: 40,
      inputSize: 72,
      images: Float32Array.from({ length: 40 * 72 }, () => random.next()),
      labels: Int32Array.from({ length: 40 }, (_, i) => i % 3),
    };
    await trainEpochs(net, data, { epochs: 2, batchSize: 16 });
    net.predict(data.images.subarray(0, 72 * 5), 5);
    assert.equal(tf().memory().numTensors, created, 'tensors leaked by training or prediction');
    net.dispose();
    assert.equal(tf().memory().numTensors, start, 'tensors left after dispose');
  });

  it('refuses a block above a dense layer and a block without the image shape, naming the layer', function () {
    assert.throws(
      () => BackpropNetwork.create({ inputSize: 72, inputShape: [6, 6, 2], classes: 3, layers: [5, conv(3, 3, 1)] }),
      /layers\[1\] \(conv2d\) must sit on images or on another conv2d layer/,
    );
    assert.throws(
      () => OnnxBackpropNetwork.create({ inputSize: 72, classes: 3, layers: [conv(3, 3, 1)] }),
      /layers\[0\] \(conv2d\) takes images: give the input's shape/,
    );
  });
});
