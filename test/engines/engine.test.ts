/**
 * Engine-level tests, run on every engine of ENGINE_CHOICES (tfjs wasm and onnx by default): gradients against
 * float64 finite differences and tfjs autodiff, training steps against the tfjs engine, the layer contract
 * (shapes, prototypes, errors, disposal) and whole-network training. An engine whose optional package does not
 * load is skipped with the reason printed.
 */
import assert from 'node:assert/strict';
import type * as tfTypes from '@tensorflow/tfjs';
import { BACKEND_CHOICES, createEngine, selectBackend } from '../../src/engines/backend';
import { tf } from '../../src/engines/tfjs/tf';
import type { Activation, Engine, OptimizerSettings, PrototypeUpdate } from '../../src/engines/types';
import { DEFAULTS } from '../../src/hff/config';
import { HffNetwork, evaluateNetwork, trainNetwork } from '../../src/hff';
import { ENGINE_CHOICES, blobs, engineOrSkip, makeCase, maxAbsDiff, referenceGradients, relativeError } from './reference';

const ADAM: OptimizerSettings = { ...DEFAULTS.optimizer, learningRate: 0.01 };

for (const choice of ENGINE_CHOICES) {
  describe(`engine ${choice}`, function () {
    let engine: Engine;
    /** The tfjs engine the others are compared with. */
    let reference: Engine;

    before(async function () {
      engine = await engineOrSkip(this, choice);
      reference = await createEngine('wasm');
    });

    for (const m of [1, 3]) {
      for (const [activation, centerInput] of [
        ['relu', false],
        ['tanh', false],
        ['leaky-relu', false],
        ['relu', true],
      ] as [Activation, boolean][]) {
        it(`gradients match float64 finite differences (M=${m}, ${activation}${centerInput ? ', centred input' : ''})`, function () {
          const c = makeCase(m, activation, 11 + m, { centerInput });
          const layer = engine.createLayer(c.spec, c.params, DEFAULTS.optimizer);
          try {
            const g = layer.gradients(c.x, c.batch, c.labels);
            const numeric = referenceGradients(c);
            assert.ok(Math.abs(g.loss - numeric.loss) < 1e-4, `loss ${g.loss} vs reference ${numeric.loss}`);
            for (const name of ['weight', 'bias', 'prototypes'] as const) {
              const error = relativeError(g[name], numeric[name]);
              assert.ok(error < 1e-3, `${name} gradient: relative error ${error}`);
            }
          } finally {
            layer.dispose();
          }
        });
      }

      it(`gradients match tfjs autodiff (M=${m})`, function () {
        const t = tf();
        const c = makeCase(m, 'relu', 5 + m);
        const layer = engine.createLayer(c.spec, c.params, DEFAULTS.optimizer);
        try {
          const g = layer.gradients(c.x, c.batch, c.labels);
          const k = 3;
          const lossFn = (w: tfTypes.Tensor, b: tfTypes.Tensor, pRaw: tfTypes.Tensor) => {
            let x = t.tensor2d(c.x, [c.batch, c.spec.inputSize]);
            x = t.div(x, t.norm(x, 2, 1, true));
            const hid = t.relu(t.add(t.matMul(x, w as tfTypes.Tensor2D), b));
            const z = t.div(hid, t.norm(hid, 2, 1, true));
            const p = t.div(pRaw, t.norm(pRaw, 2, 1, true));
            const cos = t.matMul(z as tfTypes.Tensor2D, p as tfTypes.Tensor2D, false, true);
            const onehot = t.oneHot(t.tensor1d(c.labels, 'int32'), k).toFloat();
            const rowMask = t.reshape(t.tile(t.expandDims(onehot, 2), [1, 1, m]), [c.batch, k * m]);
            const scaled = t.reshape(t.div(t.sub(cos, t.mul(rowMask, c.spec.margin)), c.spec.tau), [c.batch, k, m]);
            const logits = t.logSumExp(scaled, 2);
            return t.neg(t.mean(t.sum(t.mul(onehot, t.logSoftmax(logits)), 1))) as tfTypes.Scalar;
          };
          const auto = t.tidy(() => {
            const w = t.tensor2d(c.params.weight, [c.spec.inputSize, c.spec.units]);
            const b = t.tensor1d(c.params.bias);
            const p = t.tensor2d(c.params.prototypes, [k * m, c.spec.units]);
            return t
              .grads(lossFn)([w, b, p])
              .map((x) => x.dataSync() as Float32Array);
          });
          assert.ok(relativeError(g.weight, auto[0]) < 1e-3, `weight rel. error ${relativeError(g.weight, auto[0])}`);
          assert.ok(relativeError(g.bias, auto[1]) < 1e-3, `bias rel. error ${relativeError(g.bias, auto[1])}`);
          assert.ok(relativeError(g.prototypes, auto[2]) < 1e-3, `prototype rel. error ${relativeError(g.prototypes, auto[2])}`);
        } finally {
          layer.dispose();
        }
      });
    }

    const stepCases: {
      name: string;
      m: number;
      activation: Activation;
      update: PrototypeUpdate;
      optimizer: OptimizerSettings;
      margin: number;
      normalizeInput: boolean;
      centerInput?: boolean;
    }[] = [
      { name: 'Adam, gradient prototypes', m: 1, activation: 'relu', update: 'gradient', optimizer: ADAM, margin: 0, normalizeInput: true },
      {
        name: 'Adam, centred and normalised input',
        m: 1,
        activation: 'relu',
        update: 'gradient',
        optimizer: ADAM,
        margin: 0,
        normalizeInput: true,
        centerInput: true,
      },
      {
        name: 'Adam, centred input without normalisation, M=2',
        m: 2,
        activation: 'tanh',
        update: 'gradient',
        optimizer: ADAM,
        margin: 0,
        normalizeInput: false,
        centerInput: true,
      },
      {
        name: 'Adam with weight decay, M=3, margin, tanh',
        m: 3,
        activation: 'tanh',
        update: 'gradient',
        optimizer: { ...ADAM, weightDecay: 0.01 },
        margin: 0.1,
        normalizeInput: false,
      },
      { name: 'Adam, EMA prototypes, M=2, leaky-relu', m: 2, activation: 'leaky-relu', update: 'ema', optimizer: ADAM, margin: 0.05, normalizeInput: true },
      {
        name: 'SGD with momentum and weight decay',
        m: 1,
        activation: 'relu',
        update: 'gradient',
        optimizer: { ...ADAM, kind: 'sgd', learningRate: 0.1, weightDecay: 0.001 },
        margin: 0,
        normalizeInput: true,
      },
      {
        name: 'plain SGD, EMA prototypes',
        m: 2,
        activation: 'relu',
        update: 'ema',
        optimizer: { ...ADAM, kind: 'sgd', learningRate: 0.1, momentum: 0 },
        margin: 0,
        normalizeInput: true,
      },
    ];
    for (const s of stepCases) {
      it(`training steps match the tfjs engine (${s.name})`, function () {
        const c = makeCase(s.m, s.activation, 21, {
          margin: s.margin,
          normalizeInput: s.normalizeInput,
          centerInput: s.centerInput,
          inputSize: 24,
          units: 16,
          classes: 4,
          batch: 12,
        });
        const a = engine.createLayer(c.spec, c.params, s.optimizer);
        const b = reference.createLayer(c.spec, c.params, s.optimizer);
        try {
          const options = { prototypeUpdate: s.update, emaRate: 0.2 };
          for (let step = 0; step < 6; step++) {
            const ra = a.trainStep(c.x, c.batch, c.labels, options);
            const rb = b.trainStep(c.x, c.batch, c.labels, options);
            assert.ok(Math.abs(ra.loss - rb.loss) < 1e-4, `step ${step}: loss ${ra.loss} vs ${rb.loss}`);
            assert.equal(ra.correct, rb.correct, `step ${step}: correct`);
            assert.ok(maxAbsDiff(ra.z, rb.z) < 1e-5, `step ${step}: z differs by ${maxAbsDiff(ra.z, rb.z)}`);
          }
          const pa = a.readParams();
          const pb = b.readParams();
          assert.ok(maxAbsDiff(pa.weight, pb.weight) < 1e-5, `weights differ by ${maxAbsDiff(pa.weight, pb.weight)}`);
          assert.ok(maxAbsDiff(pa.bias, pb.bias) < 1e-5, `biases differ by ${maxAbsDiff(pa.bias, pb.bias)}`);
          assert.ok(maxAbsDiff(pa.prototypes, pb.prototypes) < 1e-5, `prototypes differ by ${maxAbsDiff(pa.prototypes, pb.prototypes)}`);
          const fa = a.forward(c.x, c.batch);
          const fb = b.forward(c.x, c.batch);
          assert.ok(maxAbsDiff(fa.cosines, fb.cosines) < 1e-5, `cosines differ by ${maxAbsDiff(fa.cosines, fb.cosines)}`);
        } finally {
          a.dispose();
          b.dispose();
        }
      });
    }

    it('forwards like the tfjs engine through long runs of predictions and after each training step', function () {
      const c = makeCase(2, 'relu', 8, { inputSize: 24, units: 16, classes: 4, batch: 12, margin: 0 });
      const a = engine.createLayer(c.spec, c.params, ADAM);
      const b = reference.createLayer(c.spec, c.params, ADAM);
      try {
        for (let round = 0; round < 3; round++) {
          // Enough calls for an engine to switch to a session specialised for unchanged weights.
          for (let i = 0; i < 8; i++) {
            const batch = 1 + ((i * 5) % c.batch);
            const fa = a.forward(c.x.subarray(0, batch * c.spec.inputSize), batch);
            const fb = b.forward(c.x.subarray(0, batch * c.spec.inputSize), batch);
            assert.ok(maxAbsDiff(fa.z, fb.z) < 1e-5, `round ${round}, call ${i}: z differs by ${maxAbsDiff(fa.z, fb.z)}`);
            assert.ok(maxAbsDiff(fa.cosines, fb.cosines) < 1e-5, `round ${round}, call ${i}: cosines differ`);
          }
          const options = { prototypeUpdate: 'gradient' as const, emaRate: 0.1 };
          a.trainStep(c.x, c.batch, c.labels, options);
          b.trainStep(c.x, c.batch, c.labels, options);
          // Prototype changes apply at once too.
          const grown = new Float32Array(c.params.prototypes.length + 2 * c.spec.units);
          grown.set(b.readPrototypes());
          grown.fill(0.25, c.params.prototypes.length);
          a.setPrototypes(grown.subarray(0, (8 + (round % 2) * 2) * c.spec.units));
          b.setPrototypes(grown.subarray(0, (8 + (round % 2) * 2) * c.spec.units));
        }
        // A long run after training (an engine may wait longer before specialising once training interleaves).
        for (let i = 0; i < 80; i++) {
          const fa = a.forward(c.x, c.batch);
          const fb = b.forward(c.x, c.batch);
          assert.ok(maxAbsDiff(fa.cosines, fb.cosines) < 1e-5, `call ${i} after training: cosines differ by ${maxAbsDiff(fa.cosines, fb.cosines)}`);
        }
      } finally {
        a.dispose();
        b.dispose();
      }
    });

    it('keeps the layer contract: shapes, copies, prototype changes, errors, disposal', function () {
      const c = makeCase(2, 'relu', 3, { classes: 3, batch: 4 });
      const layer = engine.createLayer(c.spec, c.params, ADAM);
      assert.equal(layer.prototypeRows, 6);
      const f = layer.forward(c.x, c.batch);
      assert.equal(f.z.length, c.batch * c.spec.units);
      assert.equal(f.cosines.length, c.batch * 6);
      for (let b = 0; b < c.batch; b++) {
        const norm = Math.hypot(...f.z.subarray(b * c.spec.units, (b + 1) * c.spec.units));
        assert.ok(Math.abs(norm - 1) < 1e-5, `row ${b} norm ${norm}`);
      }
      // Inputs may be views into a larger buffer.
      const padded = new Float32Array(c.x.length + 10);
      padded.set(c.x, 10);
      assert.ok(maxAbsDiff(layer.forward(padded.subarray(10), c.batch).z, f.z) < 1e-6);
      // readParams returns copies.
      const p = layer.readParams();
      p.weight.fill(0);
      assert.ok(layer.readParams().weight.some((v) => v !== 0));
      assert.deepEqual(Array.from(layer.readPrototypes()), Array.from(c.params.prototypes));
      // Growing, shrinking and emptying the prototypes.
      const grown = new Float32Array(8 * c.spec.units);
      grown.set(c.params.prototypes);
      grown.fill(Math.SQRT1_2, 6 * c.spec.units, 6 * c.spec.units + 2);
      grown.fill(Math.SQRT1_2, 7 * c.spec.units, 7 * c.spec.units + 2);
      layer.setPrototypes(grown);
      assert.equal(layer.prototypeRows, 8);
      assert.equal(layer.forward(c.x, c.batch).cosines.length, c.batch * 8);
      const step = layer.trainStep(c.x, c.batch, Int32Array.from([0, 1, 2, 3]), { prototypeUpdate: 'gradient', emaRate: 0.1 });
      assert.ok(Number.isFinite(step.loss));
      layer.setPrototypes(new Float32Array(0));
      assert.equal(layer.prototypeRows, 0);
      const empty = layer.forward(c.x, c.batch);
      assert.equal(empty.cosines.length, 0);
      assert.equal(empty.z.length, c.batch * c.spec.units);
      layer.setPrototypes(c.params.prototypes);
      assert.throws(() => layer.forward(c.x, 3), /expected 21 values/);
      assert.throws(() => layer.forward(c.x, 0), /positive integer/);
      assert.throws(
        () => layer.trainStep(c.x, c.batch, Int32Array.from([0, 1, 2, 3]), { prototypeUpdate: 'gradient', emaRate: 0.1 }),
        /label 3 is outside 0\.\.2/,
      );
      assert.throws(() => layer.gradients(c.x, c.batch, Int32Array.from([0, 1])), /expected 4 labels/);
      assert.throws(() => layer.setPrototypes(new Float32Array(5)), /not a multiple/);
      assert.throws(() => engine.createLayer(c.spec, { ...c.params, bias: new Float32Array(2) }, ADAM), /bias: expected 6 values/);
      const live = engine.liveTensors();
      layer.dispose();
      assert.ok(engine.liveTensors() < live, 'dispose frees the layer');
      assert.throws(() => layer.forward(c.x, c.batch), /disposed/);
    });

    it('forwards a stack of layers in one call like layer-by-layer forwards, reading back only what is asked', function () {
      // The first layer centres its input: forwardStack does that outside the engine's tensors on tfjs.
      const first = makeCase(1, 'relu', 11, { classes: 3, batch: 4, centerInput: true });
      const second = makeCase(1, 'tanh', 12, { classes: 3, batch: 4, inputSize: 6, units: 5 });
      const layers = [engine.createLayer(first.spec, first.params, ADAM), engine.createLayer(second.spec, second.params, ADAM)];
      try {
        const f0 = layers[0].forward(first.x, first.batch);
        const f1 = layers[1].forward(f0.z, first.batch);
        const live = engine.liveTensors();
        const all = engine.forwardStack(layers, first.x, first.batch, 'all');
        assert.equal(all.length, 2);
        assert.ok(maxAbsDiff(all[0].z, f0.z) < 1e-6 && maxAbsDiff(all[0].cosines, f0.cosines) < 1e-6);
        assert.ok(maxAbsDiff(all[1].z, f1.z) < 1e-6 && maxAbsDiff(all[1].cosines, f1.cosines) < 1e-5);
        const final = engine.forwardStack(layers, first.x, first.batch, 'final');
        assert.equal(final.length, 1);
        assert.ok(maxAbsDiff(final[0].z, f1.z) < 1e-6 && maxAbsDiff(final[0].cosines, f1.cosines) < 1e-5);
        assert.equal(engine.liveTensors(), live, 'no engine buffer left behind');
        assert.throws(() => engine.forwardStack(layers, first.x, 3, 'final'), /expected 21 values/);
        assert.throws(() => engine.forwardStack([layers[1], layers[0]], second.x, second.batch, 'all'), /layer 1 takes 7 inputs|expected/);
        layers[1].dispose();
        assert.throws(() => engine.forwardStack(layers, first.x, first.batch, 'final'), /disposed/);
      } finally {
        for (const layer of layers) layer.dispose();
      }
    });

    it('trains a network to the same parameters and predictions as the tfjs engine', async function () {
      const train = blobs(240, 4, 16, 1);
      const test = blobs(120, 4, 16, 2);
      const options = { inputSize: 16, layers: [32, 24], seed: 3, prototypesPerClass: 2, margin: 0.05, optimizer: { learningRate: 0.01 } };
      const classes = ['bolt', 'nut', 'washer', 'gear'];
      const a = HffNetwork.create(engine, options, classes);
      const b = HffNetwork.create(reference, options, classes);
      try {
        // A first pass through every layer builds the engines' per-layer caches, which stay until the prototypes
        // change (trainNetwork ends with such a pass, for the trained-input reference).
        const warm = () => {
          a.forward(test.images.subarray(0, 16), 1);
          b.forward(test.images.subarray(0, 16), 1);
        };
        warm();
        const live = engine.liveTensors();
        // Constant rate: 16 steps of a decaying rate would leave too little learnt for the accuracy check below.
        await trainNetwork(a, train, { epochs: 2, batchSize: 32, learningRateSchedule: 'constant' });
        await trainNetwork(b, train, { epochs: 2, batchSize: 32, learningRateSchedule: 'constant' });
        const ea = await evaluateNetwork(a, test);
        const eb = await evaluateNetwork(b, test);
        assert.ok(ea.accuracy > 0.75, `accuracy ${ea.accuracy}`);
        assert.equal(ea.correct, eb.correct);
        const fa = a.toModelFiles().tensors;
        const fb = b.toModelFiles().tensors;
        for (const name of Object.keys(fb)) {
          assert.ok(maxAbsDiff(fa[name].data, fb[name].data) < 1e-4, `${name} differs by ${maxAbsDiff(fa[name].data, fb[name].data)}`);
        }
        const pa = a.predict(test.images, test.n);
        const pb = b.predict(test.images, test.n);
        pa.forEach((p, i) => assert.ok(Math.abs(p.score - pb[i].score) < 1e-4, `prediction ${i}: ${p.score} vs ${pb[i].score}`));
        a.teach('spring', test.images.subarray(0, 32), 2);
        a.forgetClass('spring');
        warm();
        assert.equal(engine.liveTensors(), live, 'training, prediction and teaching keep the live buffers');
      } finally {
        a.dispose();
        b.dispose();
      }
    });
  });
}

describe('engine selection', function () {
  const saved = process.env.HFF_BACKEND;
  afterEach(function () {
    if (saved === undefined) delete process.env.HFF_BACKEND;
    else process.env.HFF_BACKEND = saved;
  });

  it('lists onnx among the choices and honours explicit choices and $HFF_BACKEND', async function () {
    assert.ok(BACKEND_CHOICES.includes('onnx'));
    assert.equal(await selectBackend('wasm'), 'tfjs-wasm');
    process.env.HFF_BACKEND = 'wasm';
    assert.equal(await selectBackend(), 'tfjs-wasm');
    process.env.HFF_BACKEND = 'nonsense';
    await assert.rejects(selectBackend(), /HFF_BACKEND: unknown backend 'nonsense'/);
  });

  it('chooses the onnx engine automatically when onnxruntime-node loads', async function () {
    const { onnxAvailability } = await import('../../src/engines/backend');
    delete process.env.HFF_BACKEND;
    const expected = onnxAvailability().available ? 'onnx' : undefined;
    const name = await selectBackend('auto');
    if (expected) assert.equal(name, expected);
    else assert.notEqual(name, 'onnx');
  });
});
