import assert from 'node:assert/strict';
import { BackpropNetwork } from '../../src/baselines/backprop';
import { evaluateIndices, trainEpochs } from '../../src/baselines/common';
import { ForwardForwardNetwork } from '../../src/baselines/forward-forward';
import { selectBackend } from '../../src/engines/backend';
import { tf } from '../../src/engines/tfjs/tf';
import { SeededRandom } from '../../src/hff/random';
import { numericGradient, relativeError, softplus, toyClusters } from './toy';

type Layer = { weight: Float64Array; bias: Float64Array; rows: number; cols: number };

function randomLayers(sizes: number[], random: SeededRandom, scale = 0.7): { weight: Float32Array; bias: Float32Array }[] {
  const out = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    out.push({
      weight: Float32Array.from({ length: sizes[i] * sizes[i + 1] }, () => random.gaussian() * scale),
      bias: Float32Array.from({ length: sizes[i + 1] }, () => 0.1 + random.gaussian() * 0.1),
    });
  }
  return out;
}

function toF64(layers: { weight: Float32Array; bias: Float32Array }[], sizes: number[]): Layer[] {
  return layers.map((l, i) => ({ weight: Float64Array.from(l.weight), bias: Float64Array.from(l.bias), rows: sizes[i], cols: sizes[i + 1] }));
}

/** Dense layer on rows of x (float64): optional RMS normalisation of the input, then xW + b, then ReLU if asked. */
function dense(x: Float64Array, batch: number, l: Layer, rms: boolean, relu: boolean): Float64Array {
  const out = new Float64Array(batch * l.cols);
  for (let b = 0; b < batch; b++) {
    let scale = 1;
    if (rms) {
      let ms = 0;
      for (let i = 0; i < l.rows; i++) ms += x[b * l.rows + i] ** 2;
      scale = 1 / Math.sqrt(ms / l.rows + 1e-8);
    }
    for (let u = 0; u < l.cols; u++) {
      let a = l.bias[u];
      for (let i = 0; i < l.rows; i++) a += x[b * l.rows + i] * scale * l.weight[i * l.cols + u];
      out[b * l.cols + u] = relu ? Math.max(0, a) : a;
    }
  }
  return out;
}

function meanSquares(h: Float64Array, batch: number, units: number): Float64Array {
  const g = new Float64Array(batch);
  for (let b = 0; b < batch; b++) {
    let s = 0;
    for (let u = 0; u < units; u++) s += h[b * units + u] ** 2;
    g[b] = s / units;
  }
  return g;
}

function withLabels(x: Float32Array, batch: number, d: number, k: number, labels: ArrayLike<number>, value: number): Float64Array {
  const out = Float64Array.from(x);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < k; c++) out[b * d + c] = 0;
    out[b * d + labels[b]] = value;
  }
  return out;
}

describe('baselines', function () {
  before(async function () {
    await selectBackend(process.env.HFF_BACKEND ?? 'wasm');
  });

  describe('vanilla Forward-Forward', function () {
    const d = 6;
    const k = 3;
    const widths = [5, 4];
    const sizes = [d, ...widths];

    it('one SGD step moves every layer by the gradient of its own local loss (finite differences, float64)', function () {
      const random = new SeededRandom(21);
      const params = randomLayers(sizes, random);
      const batch = 4;
      const x = Float32Array.from({ length: batch * d }, () => random.next());
      const labels = Int32Array.from([0, 1, 2, 1]);
      const negatives = Int32Array.from([2, 0, 1, 0]);
      const threshold = 0.8;
      const sharpness = 1.5;
      const net = ForwardForwardNetwork.fromParams(
        { inputSize: d, classes: k, layers: widths, threshold, sharpness, labelValue: 1, optimizer: { kind: 'sgd', learningRate: 1, momentum: 0 } },
        { layers: params },
      );
      try {
        const result = net.trainBatch(x, batch, labels, negatives);
        const after = net.readParams();
        const ref = toF64(params, sizes);
        const rows = 2 * batch;
        const input = new Float64Array(rows * d);
        input.set(withLabels(x, batch, d, k, labels, 1), 0);
        input.set(withLabels(x, batch, d, k, negatives, 1), batch * d);
        const sign = (r: number) => (r < batch ? 1 : -1);
        const localLoss = (l: number) => {
          let h: Float64Array = input;
          for (let j = 0; j < l; j++) h = dense(h, rows, ref[j], true, true);
          const out = dense(h, rows, ref[l], true, true);
          const g = meanSquares(out, rows, ref[l].cols);
          let total = 0;
          for (let r = 0; r < rows; r++) total += softplus(-sign(r) * sharpness * (g[r] - threshold));
          return total / rows;
        };
        widths.forEach((_, l) => {
          assert.ok(Math.abs(result.losses[l] - localLoss(l)) < 1e-4, `layer ${l} loss ${result.losses[l]} vs ${localLoss(l)}`);
          const stepW = params[l].weight.map((v, i) => v - after.layers[l].weight[i]);
          const stepB = params[l].bias.map((v, i) => v - after.layers[l].bias[i]);
          const numW = numericGradient(ref[l].weight, () => localLoss(l));
          const numB = numericGradient(ref[l].bias, () => localLoss(l));
          assert.ok(relativeError(stepW, numW) < 1e-3, `layer ${l} weight rel. error ${relativeError(stepW, numW)}`);
          assert.ok(relativeError(stepB, numB) < 1e-3, `layer ${l} bias rel. error ${relativeError(stepB, numB)}`);
        });
      } finally {
        net.dispose();
      }
    });

    it('predicts by one pass per candidate label, summing goodness over layers (plain reference)', function () {
      const random = new SeededRandom(5);
      const params = randomLayers(sizes, random);
      const batch = 7;
      const x = Float32Array.from({ length: batch * d }, () => random.next());
      for (const scoreFromLayer of [0, 1]) {
        const net = ForwardForwardNetwork.fromParams({ inputSize: d, classes: k, layers: widths, labelValue: 2, scoreFromLayer }, { layers: params });
        try {
          const scores = net.scores(x, batch);
          const ref = toF64(params, sizes);
          const expected = new Float64Array(batch * k);
          for (let c = 0; c < k; c++) {
            let h = withLabels(x, batch, d, k, new Array(batch).fill(c), 2);
            ref.forEach((layer, l) => {
              h = dense(h, batch, layer, true, true);
              if (l >= scoreFromLayer) meanSquares(h, batch, layer.cols).forEach((g, b) => (expected[b * k + c] += g));
            });
          }
          assert.ok(relativeError(scores, expected) < 1e-5, `scores rel. error ${relativeError(scores, expected)}`);
          const predicted = net.predict(x, batch);
          for (let b = 0; b < batch; b++) {
            const row = Array.from(expected.subarray(b * k, (b + 1) * k));
            assert.equal(predicted[b], row.indexOf(Math.max(...row)), `row ${b}`);
          }
        } finally {
          net.dispose();
        }
      }
    });

    it('learns a separable toy problem well above chance', async function () {
      const train = toyClusters(600, 24, 4, 3);
      const test = toyClusters(200, 24, 4, 3);
      const net = ForwardForwardNetwork.create({ inputSize: 24, classes: 4, layers: [32, 32], optimizer: { learningRate: 0.01 }, seed: 2 });
      try {
        const summary = await trainEpochs(net, train, { epochs: 8, batchSize: 32, seed: 1 });
        assert.equal(summary.epochs.length, 8);
        assert.ok(summary.epochs[7].loss < summary.epochs[0].loss, `loss ${summary.epochs[0].loss} -> ${summary.epochs[7].loss}`);
        const { accuracy } = await evaluateIndices((xb, b) => net.predict(xb, b), test);
        assert.ok(accuracy > 0.8, `accuracy ${accuracy} (chance 0.25)`);
      } finally {
        net.dispose();
      }
    });

    it('draws negative labels uniformly among the wrong classes', function () {
      const net = ForwardForwardNetwork.create({ inputSize: 12, classes: 4, layers: [3] });
      try {
        const labels = new Int32Array(4000).map((_, i) => i % 4);
        const neg = net.negativeLabels(labels);
        const counts = new Array(4).fill(0);
        neg.forEach((c, i) => {
          assert.notEqual(c, labels[i]);
          if (labels[i] === 0) counts[c] += 1;
        });
        assert.equal(counts[0], 0);
        for (const c of [1, 2, 3]) assert.ok(counts[c] > 250 && counts[c] < 420, `class ${c} drawn ${counts[c]} times of 1000`);
      } finally {
        net.dispose();
      }
    });

    it('rejects bad settings with a clear message', function () {
      assert.throws(() => ForwardForwardNetwork.create({ inputSize: 10, classes: 10 }), /first 10 input values/);
      assert.throws(() => ForwardForwardNetwork.create({ inputSize: 20, classes: 3, threshold: 0 }), /threshold/);
      assert.throws(() => ForwardForwardNetwork.create({ inputSize: 20, classes: 3, layers: [] }), /layers/);
      assert.throws(() => ForwardForwardNetwork.create({ inputSize: 20, classes: 3, layers: [4], scoreFromLayer: 1 }), /scoreFromLayer/);
    });
  });

  describe('backprop MLP', function () {
    const d = 5;
    const k = 3;
    const widths = [6, 4];
    const sizes = [d, ...widths, k];

    it('one SGD step moves every parameter by the cross-entropy gradient (finite differences, float64)', function () {
      const random = new SeededRandom(8);
      const params = randomLayers(sizes, random);
      const batch = 5;
      const x = Float32Array.from({ length: batch * d }, () => random.next());
      const labels = Int32Array.from([0, 2, 1, 1, 2]);
      const net = BackpropNetwork.fromParams(
        { inputSize: d, classes: k, layers: widths, optimizer: { kind: 'sgd', learningRate: 1, momentum: 0 } },
        { layers: params },
      );
      try {
        const result = net.trainBatch(x, batch, labels);
        const after = net.readParams();
        const ref = toF64(params, sizes);
        const xs = Float64Array.from(x);
        const loss = () => {
          let h: Float64Array = xs;
          ref.forEach((layer, l) => (h = dense(h, batch, layer, false, l < ref.length - 1)));
          let total = 0;
          for (let b = 0; b < batch; b++) {
            const z = Array.from(h.subarray(b * k, (b + 1) * k));
            const m = Math.max(...z);
            total -= z[labels[b]] - m - Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
          }
          return total / batch;
        };
        assert.ok(Math.abs(result.loss - loss()) < 1e-4, `loss ${result.loss} vs ${loss()}`);
        ref.forEach((layer, l) => {
          const stepW = params[l].weight.map((v, i) => v - after.layers[l].weight[i]);
          const stepB = params[l].bias.map((v, i) => v - after.layers[l].bias[i]);
          const numW = numericGradient(layer.weight, loss);
          const numB = numericGradient(layer.bias, loss);
          assert.ok(relativeError(stepW, numW) < 1e-3, `layer ${l} weight rel. error ${relativeError(stepW, numW)}`);
          assert.ok(relativeError(stepB, numB) < 1e-3, `layer ${l} bias rel. error ${relativeError(stepB, numB)}`);
        });
      } finally {
        net.dispose();
      }
    });

    it('learns a separable toy problem well above chance', async function () {
      const train = toyClusters(600, 24, 4, 3);
      const test = toyClusters(200, 24, 4, 3);
      const net = BackpropNetwork.create({ inputSize: 24, classes: 4, layers: [32, 32], seed: 2 });
      try {
        await trainEpochs(net, train, { epochs: 5, batchSize: 32, seed: 1 });
        const { accuracy } = await evaluateIndices((xb, b) => net.predict(xb, b), test);
        assert.ok(accuracy > 0.9, `accuracy ${accuracy} (chance 0.25)`);
      } finally {
        net.dispose();
      }
    });
  });

  it('trainEpochs shows the baselines augmented images when asked, reproducibly', async function () {
    const data = toyClusters(64, 16, 3, 5); // read as 4x4 grey images
    const weightsAfter = async (augment?: { shape: [number, number, number]; geometry: { shift: number; rotate: number; scale: number } }) => {
      const net = BackpropNetwork.create({ inputSize: 16, classes: 3, layers: [8], seed: 1 });
      try {
        await trainEpochs(net, data, { epochs: 1, batchSize: 16, seed: 2, ...(augment ? { augment } : {}) });
        return Array.from(net.readParams().layers[0].weight);
      } finally {
        net.dispose();
      }
    };
    const plain = await weightsAfter();
    const unchanged = await weightsAfter({ shape: [4, 4, 1], geometry: { shift: 0, rotate: 0, scale: 0 } });
    const turned = await weightsAfter({ shape: [4, 4, 1], geometry: { shift: 1, rotate: 15, scale: 0.1 } });
    const again = await weightsAfter({ shape: [4, 4, 1], geometry: { shift: 1, rotate: 15, scale: 0.1 } });
    assert.deepEqual(unchanged, plain, 'no geometry: the same training as without augmentation');
    assert.notDeepEqual(turned, plain);
    assert.deepEqual(turned, again);
  });

  describe('tensor bookkeeping', function () {
    for (const kind of ['ff', 'bp'] as const) {
      it(`${kind}: the live tensor count stays flat through training and prediction and returns after dispose`, async function () {
        const data = toyClusters(100, 16, 3, 9);
        const start = tf().memory().numTensors;
        const options = { inputSize: 16, classes: 3, layers: [8, 8] };
        const net = kind === 'ff' ? ForwardForwardNetwork.create(options) : BackpropNetwork.create(options);
        const created = tf().memory().numTensors;
        await trainEpochs(net, data, { epochs: 2, batchSize: 16 });
        net.predict(data.images.subarray(0, 16 * 10), 10);
        net.predict(data.images.subarray(0, 16), 1);
        assert.equal(tf().memory().numTensors, created, 'tensors leaked by training or prediction');
        await trainEpochs(net, data, { epochs: 1, batchSize: 7 });
        net.predict(data.images.subarray(0, 16 * 3), 3);
        assert.equal(tf().memory().numTensors, created, 'tensors leaked by a second round');
        net.dispose();
        assert.equal(tf().memory().numTensors, start, 'tensors left after dispose');
      });
    }
  });
});
