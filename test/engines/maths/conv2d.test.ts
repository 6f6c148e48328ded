/**
 * The convolutional layer definition run in float64 (Float64Ops): its gradients against central finite differences
 * of its own loss, and each engine's primitives (tfjs tensors, an ONNX graph generated from the definition) against
 * it within float32 rounding.
 */
import assert from 'node:assert/strict';
import { type Conv2dTraining, conv2dForward, conv2dTraining } from '../../../src/engines/maths/conv2d';
import { localLoss, lossAndCorrect, lossTargets } from '../../../src/engines/maths/local-loss';
import { mapSize } from '../../../src/engines/maths/ops';
import { onnxAvailability } from '../../../src/engines/backend';
import { conv2dTrainModel } from '../../../src/engines/onnx/graphs';
import { SyncSession, floatTensor } from '../../../src/engines/onnx/runtime';
import { TfjsOps } from '../../../src/engines/tfjs/tfjs-ops';
import { tf } from '../../../src/engines/tfjs/tf';
import type { Tensor } from '@tensorflow/tfjs';
import { SeededRandom } from '../../../src/hff/random';
import { randomUnitRows } from '../../../src/hff/vectors';
import { skipForEnvironment } from '../../helpers/skip';
import { ENGINE_CHOICES, assertGradientsMatch, engineOrSkip, maxAbsDiff, relativeError } from '../reference';
import { DEFAULTS } from '../../../src/hff/config';
import { type Conv2dLayerSpec, passedWidth, weightRows } from '../../../src/engines/types';
import { Float64Ops, Matrix } from './float64-ops';

const ops = new Float64Ops();

interface ConvCase {
  spec: Conv2dLayerSpec;
  batch: number;
  classes: number;
  x: Float32Array;
  weight: Float32Array;
  bias: Float32Array;
  prototypes: Float32Array;
  labels: Int32Array;
}

/** `flat`: each image channel one value, so that windows inside the image tie and max pooling must pick the first. */
function makeConvCase(seed: number, overrides: Partial<Conv2dLayerSpec>, flat = false): ConvCase {
  const random = new SeededRandom(seed);
  const spec: Conv2dLayerSpec = {
    kind: 'conv2d',
    input: { height: 5, width: 5, channels: 2 },
    filters: 3,
    kernel: 3,
    pool: 1,
    activation: 'relu',
    tau: 0.2,
    margin: 0.05,
    prototypesPerClass: 1,
    ...overrides,
  };
  const batch = 4;
  const classes = 3;
  const gaussians = (n: number, scale: number, offset = 0) => Float32Array.from({ length: n }, () => offset + random.gaussian() * scale);
  return {
    spec,
    batch,
    classes,
    x: flat
      ? Float32Array.from({ length: batch * mapSize(spec.input) }, (_, i) => 0.2 + (i % spec.input.channels) * 0.5 + Math.floor(i / mapSize(spec.input)) * 0.1)
      : Float32Array.from({ length: batch * mapSize(spec.input) }, () => random.next() * 2 - 0.5),
    weight: gaussians(weightRows(spec) * spec.filters, 0.5),
    bias: gaussians(spec.filters, 0.1, 0.1),
    prototypes: randomUnitRows(classes * spec.prototypesPerClass, spec.filters, () => random.gaussian()),
    labels: Int32Array.from({ length: batch }, (_, i) => i % classes),
  };
}

const CASES: [string, Partial<Conv2dLayerSpec>, boolean?][] = [
  ['5x5x2, 3 filters k3, relu, no pooling', {}],
  ['5x5x2, 3 filters k3, relu, pool 2', { pool: 2 }],
  ['5x5x2, 3 filters k3, tanh, pool 2, M=2, no margin', { activation: 'tanh', pool: 2, prototypesPerClass: 2, margin: 0 }],
  [
    '6x4x1, 4 filters k5, leaky-relu, pool 3 (cropped edge)',
    { input: { height: 6, width: 4, channels: 1 }, filters: 4, kernel: 5, activation: 'leaky-relu', pool: 3 },
  ],
  ['4x6x3, 2 filters k1, relu, pool 2', { input: { height: 4, width: 6, channels: 3 }, filters: 2, kernel: 1, pool: 2 }],
  ['8x8x2 flat images (tied windows), 3 filters k3, tanh, pool 2', { input: { height: 8, width: 8, channels: 2 }, activation: 'tanh', pool: 2 }, true],
];

function float64Targets(c: ConvCase) {
  const t = lossTargets(c.spec, c.labels, c.classes);
  const rows = c.classes * c.spec.prototypesPerClass;
  return {
    onehot: Matrix.of(t.onehot, c.batch, c.classes),
    shift: t.shift && Matrix.of(t.shift, c.batch, rows),
    gradScale: ops.scalar(t.gradScale),
  };
}

function float64Params(c: ConvCase, weight: ArrayLike<number> = c.weight, bias: ArrayLike<number> = c.bias, prototypes: ArrayLike<number> = c.prototypes) {
  const { spec } = c;
  return {
    weight: Matrix.of(weight, weightRows(spec), spec.filters),
    bias: Matrix.of(bias, 1, spec.filters),
    // Unit rows in float64: the finite differences are taken with respect to the raw prototypes.
    prototypes: ops.normalizeRows(Matrix.of(prototypes, prototypes.length / spec.filters, spec.filters)),
  };
}

function float64Training(c: ConvCase): Conv2dTraining<Matrix> & { loss: number } {
  const r = conv2dTraining(ops, c.spec, Matrix.of(c.x, c.batch, mapSize(c.spec.input)), float64Params(c), float64Targets(c));
  return { ...r, loss: lossAndCorrect(r.logits.data, c.labels, c.classes).loss };
}

/** The loss of the forward pass alone, in float64, for finite differences. */
function float64Loss(c: ConvCase, weight: Float64Array, bias: Float64Array, prototypes: Float64Array): number {
  const p = float64Params(c, weight, bias, prototypes);
  const f = conv2dForward(ops, c.spec, Matrix.of(c.x, c.batch, mapSize(c.spec.input)), p.weight, p.bias);
  return lossAndCorrect(localLoss(ops, c.spec, f, p.prototypes, float64Targets(c)).logits.data, c.labels, c.classes).loss;
}

function finiteDifferences(c: ConvCase) {
  const w = Float64Array.from(c.weight);
  const b = Float64Array.from(c.bias);
  const p = Float64Array.from(c.prototypes);
  const eps = 1e-6;
  const numeric = (values: Float64Array) =>
    values.map((keep, i) => {
      values[i] = keep + eps;
      const up = float64Loss(c, w, b, p);
      values[i] = keep - eps;
      const down = float64Loss(c, w, b, p);
      values[i] = keep;
      return (up - down) / (2 * eps);
    });
  return { weight: numeric(w), bias: numeric(b), prototypes: numeric(p) };
}

/** What an engine computed for a case, read back as arrays. */
interface EngineResult {
  z: Float32Array;
  output: Float32Array;
  logits: Float32Array;
  gradWeight: Float32Array;
  gradBias: Float32Array;
  gradPrototypes: Float32Array;
}

const RESULT_NAMES = ['z', 'output', 'logits', 'gradWeight', 'gradBias', 'gradPrototypes'] as const;

function tfjsTraining(c: ConvCase): EngineResult {
  const t = tf();
  const { spec } = c;
  const targets = lossTargets(spec, c.labels, c.classes);
  const rows = c.classes * spec.prototypesPerClass;
  const tensors = t.tidy(() => {
    const r = conv2dTraining(
      new TfjsOps(),
      spec,
      t.tensor2d(c.x, [c.batch, mapSize(spec.input)]),
      {
        weight: t.tensor2d(c.weight, [weightRows(spec), spec.filters]),
        bias: t.tensor1d(c.bias),
        prototypes: t.tensor2d(c.prototypes, [rows, spec.filters]),
      },
      {
        onehot: t.tensor2d(targets.onehot, [c.batch, c.classes]),
        shift: targets.shift && t.tensor2d(targets.shift, [c.batch, rows]),
        gradScale: t.scalar(targets.gradScale),
      },
    );
    return RESULT_NAMES.map((name) => r[name]);
  });
  const arrays = tensors.map((x) => x.dataSync() as Float32Array);
  t.dispose(tensors);
  return Object.fromEntries(RESULT_NAMES.map((name, i) => [name, arrays[i]])) as unknown as EngineResult;
}

/** The engine's training graph of the block (src/engines/onnx/graphs.ts), run on the case. */
function onnxTraining(c: ConvCase): EngineResult {
  const { spec } = c;
  const filterRows = weightRows(spec);
  const rows = c.classes * spec.prototypesPerClass;
  const session = new SyncSession(conv2dTrainModel(spec), { threads: 1 });
  try {
    const targets = lossTargets(spec, c.labels, c.classes);
    const out = session.run(
      {
        x: floatTensor(c.x, [c.batch, mapSize(spec.input)]),
        weight: floatTensor(c.weight, [filterRows, spec.filters]),
        bias: floatTensor(c.bias, [spec.filters]),
        prototypes: floatTensor(c.prototypes, [rows, spec.filters]),
        onehot: floatTensor(targets.onehot, [c.batch, c.classes]),
        gradScale: floatTensor(Float32Array.of(targets.gradScale), []),
        ...(targets.shift ? { shift: floatTensor(targets.shift, [c.batch, rows]) } : {}),
      },
      // Every output: onnxruntime-node 1.16 pairs fetches with the graph's outputs by position.
      Object.fromEntries(session.outputNames.map((name) => [name, null])),
    );
    return Object.fromEntries(RESULT_NAMES.map((name) => [name, out[name].data as Float32Array])) as unknown as EngineResult;
  } finally {
    session.dispose();
  }
}

describe('conv2d layer definition', function () {
  for (const [what, overrides, flat] of CASES) {
    it(`in float64, gives gradients that match finite differences of its loss (${what})`, function () {
      const c = makeConvCase(7, overrides, flat);
      const r = float64Training(c);
      const numeric = finiteDifferences(c);
      for (const [name, analytic, expected] of [
        ['filter', r.gradWeight, numeric.weight],
        ['bias', r.gradBias, numeric.bias],
        ['prototypes', r.gradPrototypes, numeric.prototypes],
      ] as const) {
        const error = relativeError(analytic.data, expected);
        assert.ok(error < 1e-6, `${name} gradient: relative error ${error}`);
      }
      assert.equal(r.output.cols, passedWidth(c.spec));
      for (let b = 0; b < c.batch; b++) {
        const norm = Math.hypot(...r.output.data.subarray(b * r.output.cols, (b + 1) * r.output.cols));
        assert.ok(Math.abs(norm - 1) < 1e-12, `output row ${b} has norm ${norm}`);
      }
    });
  }

  it('in float64, convolves, pools and averages as written out by hand on a tiny image', function () {
    // One 3x3 single-channel image, one 3x3 filter that picks the centre tap plus the left neighbour, bias 0.5.
    const image = Matrix.of([1, 2, 3, 4, 5, 6, 7, 8, 9], 1, 9);
    const filter = Matrix.of([0, 0, 0, 1, 1, 0, 0, 0, 0], 9, 1);
    const shape = { height: 3, width: 3, channels: 1 };
    const conv = ops.conv2d(image, shape, filter, Matrix.of([0.5], 1, 1), 3);
    assert.deepEqual(Array.from(conv.data), [1.5, 3.5, 5.5, 4.5, 9.5, 11.5, 7.5, 15.5, 17.5]);
    const outShape = { height: 3, width: 3, channels: 1 };
    const pooled = ops.maxPool(conv, outShape, 2);
    assert.deepEqual(Array.from(pooled.data), [9.5]);
    const routed = ops.maxPoolGradient(conv, pooled, Matrix.of([2], 1, 1), outShape, 2);
    assert.deepEqual(Array.from(routed.data), [0, 0, 0, 0, 2, 0, 0, 0, 0]);
    const mean = ops.globalAveragePool(conv, outShape).data[0];
    assert.ok(Math.abs(mean - 76.5 / 9) < 1e-12, `average ${mean}`);
  });

  it("tfjs autodiff of the block's forward pass and loss gives the hand-written filter and bias gradients", async function () {
    // On the cpu backend: wasm has no filter-gradient kernel for autodiff to call.
    await engineOrSkip(this, 'cpu');
    const t = tf();
    for (const [what, overrides, flat] of CASES) {
      const c = makeConvCase(17, overrides, flat);
      const { spec } = c;
      const expected = tfjsTraining(c);
      const targets = lossTargets(spec, c.labels, c.classes);
      const rows = c.classes * spec.prototypesPerClass;
      const gradients = t.tidy(() => {
        const x = t.tensor2d(c.x, [c.batch, mapSize(spec.input)]);
        const prototypes = t.tensor2d(c.prototypes, [rows, spec.filters]);
        const onehot = t.tensor2d(targets.onehot, [c.batch, c.classes]);
        const lossTensors = { onehot, shift: targets.shift && t.tensor2d(targets.shift, [c.batch, rows]), gradScale: t.scalar(targets.gradScale) };
        const loss = (weight: Tensor, bias: Tensor): Tensor => {
          const ops = new TfjsOps();
          const { logits } = localLoss(ops, spec, conv2dForward(ops, spec, x, weight, bias), prototypes, lossTensors);
          return t.mean(t.neg(t.sum(t.mul(onehot, t.logSoftmax(logits)), 1)));
        };
        return t.grads(loss)([t.tensor2d(c.weight, [weightRows(spec), spec.filters]), t.tensor1d(c.bias)]);
      });
      const [dW, dB] = gradients.map((g) => g.dataSync() as Float32Array);
      t.dispose(gradients);
      for (const [name, autodiff, handWritten] of [
        ['filter', dW, expected.gradWeight],
        ['bias', dB, expected.gradBias],
      ] as const) {
        const error = relativeError(handWritten, autodiff);
        assert.ok(error < 1e-5, `${what}: ${name} gradient differs from autodiff by ${error} (relative)`);
      }
    }
  });

  for (const choice of ENGINE_CHOICES) {
    it(`engine ${choice}: the definition on its primitives computes what it gives in float64, within float32 rounding`, async function () {
      let run: (c: ConvCase) => EngineResult;
      if (choice === 'onnx') {
        const a = onnxAvailability();
        if (!a.available) skipForEnvironment(this, `onnx engine unavailable (${a.reason})`);
        run = onnxTraining;
      } else {
        await engineOrSkip(this, choice);
        run = tfjsTraining;
      }
      for (const [what, overrides, flat] of CASES) {
        // Larger than the finite-difference cases: 7x6 images, 5 filters, unless the case sets its own.
        const c = makeConvCase(11, { input: { height: 7, width: 6, channels: 2 }, filters: 5, ...overrides }, flat);
        const expected = float64Training(c);
        const actual = run(c);
        for (const name of ['z', 'output', 'logits'] as const) {
          assert.ok(maxAbsDiff(actual[name], expected[name].data) < 2e-5, `${what}: ${name} differs by ${maxAbsDiff(actual[name], expected[name].data)}`);
        }
        for (const name of ['gradWeight', 'gradBias', 'gradPrototypes'] as const) {
          const error = relativeError(actual[name], expected[name].data);
          assert.ok(error < 1e-5, `${what}: ${name} relative error ${error}`);
        }
      }
    });
  }

  for (const choice of ENGINE_CHOICES) {
    it(`engine ${choice}: a conv2d EngineLayer gives the definition's gradients, z, output and cosines, and trains`, async function () {
      const engine = await engineOrSkip(this, choice);
      for (const [what, overrides, flat] of CASES) {
        const c = makeConvCase(13, { input: { height: 6, width: 7, channels: 2 }, filters: 4, ...overrides }, flat);
        const spec = c.spec;
        const expected = float64Training(c);
        const layer = engine.createLayer(spec, { weight: c.weight, bias: c.bias, prototypes: c.prototypes }, { ...DEFAULTS.optimizer, learningRate: 0.01 });
        try {
          const g = layer.gradients(c.x, c.batch, c.labels);
          assertGradientsMatch(what, g, expected);
          // Enough calls for an engine to switch to a session specialised for unchanged weights.
          for (let call = 0; call < 6; call++) {
            const f = layer.forward(c.x, c.batch);
            const where = `${what}, call ${call}`;
            assert.ok(maxAbsDiff(f.z, expected.z.data) < 1e-5, `${where}: z differs by ${maxAbsDiff(f.z, expected.z.data)}`);
            assert.ok(maxAbsDiff(f.output, expected.output.data) < 1e-5, `${where}: output differs by ${maxAbsDiff(f.output, expected.output.data)}`);
            assert.ok(maxAbsDiff(f.cosines, expected.cos.data) < 1e-5, `${where}: cosines differ by ${maxAbsDiff(f.cosines, expected.cos.data)}`);
          }
          const before = layer.trainStep(c.x, c.batch, c.labels, { prototypeUpdate: 'gradient', emaRate: 0.1 });
          assert.ok(maxAbsDiff(before.output, expected.output.data) < 1e-5, `${what}: trainStep's output is not the one before the update`);
          for (let step = 0; step < 20; step++) layer.trainStep(c.x, c.batch, c.labels, { prototypeUpdate: 'gradient', emaRate: 0.1 });
          const after = layer.gradients(c.x, c.batch, c.labels).loss;
          assert.ok(after < g.loss, `${what}: loss ${g.loss} before 21 steps, ${after} after`);
          // The trained weights, through the session for changing weights and then a specialised one (an engine may
          // wait longer before specialising once training interleaves).
          const trained = layer.forward(c.x, c.batch);
          for (let call = 0; call < 20; call++) {
            const f = layer.forward(c.x, c.batch);
            assert.ok(
              maxAbsDiff(f.output, trained.output) < 1e-5,
              `${what}, call ${call} after training: output differs by ${maxAbsDiff(f.output, trained.output)}`,
            );
            assert.ok(maxAbsDiff(f.cosines, trained.cosines) < 1e-5, `${what}, call ${call} after training: cosines differ`);
          }
        } finally {
          layer.dispose();
        }
      }
    });
  }

  for (const choice of ENGINE_CHOICES) {
    it(`engine ${choice}: a stack of blocks gives the top layer's results through forwardStack, layer by layer or as one graph`, async function () {
      const engine = await engineOrSkip(this, choice);
      // Blocks on blocks (pooled, then not, then pooled with a cropped edge) under a dense layer, as one network has them.
      const first = makeConvCase(21, { input: { height: 9, width: 7, channels: 3 }, filters: 4, pool: 2 });
      const second = makeConvCase(22, { input: { height: 4, width: 3, channels: 4 }, filters: 5, pool: 1 });
      const third = makeConvCase(23, { input: { height: 4, width: 3, channels: 5 }, filters: 3, kernel: 1, pool: 3 });
      const cases = [first, second, third];
      const optimizer = { ...DEFAULTS.optimizer, learningRate: 0.01 };
      const layers = cases.map((c) => engine.createLayer(c.spec, { weight: c.weight, bias: c.bias, prototypes: c.prototypes }, optimizer));
      const dense = {
        inputSize: passedWidth(third.spec),
        units: 6,
        activation: 'relu' as const,
        normalizeInput: false,
        tau: 0.2,
        margin: 0,
        prototypesPerClass: 1,
      };
      const random = new SeededRandom(24);
      const gaussians = (n: number) => Float32Array.from({ length: n }, () => random.gaussian() * 0.5);
      layers.push(
        engine.createLayer(
          dense,
          { weight: gaussians(dense.inputSize * 6), bias: gaussians(6), prototypes: randomUnitRows(3, 6, () => random.gaussian()) },
          optimizer,
        ),
      );
      const { x, batch, labels } = first;
      try {
        const byLayer = () => engine.forwardStack(layers, x, batch, 'all');
        for (let round = 0; round < 2; round++) {
          const expected = byLayer();
          const top = expected[expected.length - 1];
          // Enough calls for an engine to switch to a session for the whole stack (it waits longer after training).
          for (let call = 0; call < 40; call++) {
            const [f] = engine.forwardStack(layers, x, batch, 'final');
            const where = `round ${round}, call ${call}`;
            assert.ok(maxAbsDiff(f.z, top.z) < 1e-5, `${where}: z differs by ${maxAbsDiff(f.z, top.z)}`);
            assert.ok(maxAbsDiff(f.cosines, top.cosines) < 1e-5, `${where}: cosines differ by ${maxAbsDiff(f.cosines, top.cosines)}`);
          }
          // Training changes the weights: the stack must follow.
          let input = x;
          for (const layer of layers) input = layer.trainStep(input, batch, labels, { prototypeUpdate: 'gradient', emaRate: 0.1 }).output;
          const [after] = engine.forwardStack(layers, x, batch, 'final');
          assert.ok(maxAbsDiff(after.cosines, top.cosines) > 1e-4, `round ${round}: the top layer's cosines did not change with training`);
          const fresh = byLayer();
          assert.ok(maxAbsDiff(after.cosines, fresh[fresh.length - 1].cosines) < 1e-5, `round ${round}: the stack gave the weights before training`);
        }
      } finally {
        layers.forEach((layer) => layer.dispose());
      }
      assert.equal(engine.liveTensors(), 0);
    });
  }
});
