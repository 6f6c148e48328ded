import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createEngine } from '../../src/engines/backend';
import type { Engine } from '../../src/engines/types';
import { HffNetwork, evaluateNetwork, loadNetwork, saveNetwork, trainNetwork } from '../../src/hff';
import { SeededRandom } from '../../src/hff/random';
import { tempDir } from '../helpers/data';
import { blobs, maxAbsDiff } from '../engines/reference';

const CLASSES = ['bolt', 'nut', 'washer', 'gear'];

describe('HffNetwork', function () {
  let engine: Engine;
  const train = blobs(400, 4, 16, 1);
  const test = blobs(200, 4, 16, 2);

  before(async function () {
    engine = await createEngine(process.env.HFF_BACKEND ?? 'wasm');
  });

  function tiny(seed = 3, extra: Record<string, unknown> = {}): HffNetwork {
    return HffNetwork.create(engine, { inputSize: 16, layers: [32, 24], seed, optimizer: { learningRate: 0.01 }, ...extra }, CLASSES);
  }

  it('learns a separable problem with local losses only and predicts in one pass', async function () {
    const net = tiny();
    try {
      const before = await evaluateNetwork(net, test);
      await trainNetwork(net, train, { epochs: 5, batchSize: 32 });
      const after = await evaluateNetwork(net, test);
      assert.ok(after.accuracy > 0.9, `accuracy ${after.accuracy}`);
      assert.ok(after.accuracy > before.accuracy + 0.2, `no learning: ${before.accuracy} -> ${after.accuracy}`);
      const p = net.predict(test.images.subarray(0, 16), 1)[0];
      assert.equal(typeof p.label, 'string');
      assert.ok(p.score <= 1 && p.score >= -1);
      assert.ok(p.margin >= 0);
      assert.equal(p.top.length, 3);
      assert.deepEqual(p.top[0], { label: p.label, index: p.index, score: p.score });
      const sum = await evaluateNetwork(net, test, { scoring: 'sum' });
      assert.ok(sum.accuracy > 0.9, `sum-of-layers accuracy ${sum.accuracy}`);
    } finally {
      net.dispose();
    }
  });

  it('supports several prototypes per class and EMA prototype updates', async function () {
    for (const extra of [{ prototypesPerClass: 3 }, { prototypeUpdate: 'ema' }, { prototypesPerClass: 2, prototypeUpdate: 'ema', margin: 0.1 }]) {
      const net = tiny(4, extra);
      try {
        await trainNetwork(net, train, { epochs: 5, batchSize: 32 });
        const e = await evaluateNetwork(net, test);
        assert.ok(e.accuracy > 0.85, `${JSON.stringify(extra)}: accuracy ${e.accuracy}`);
        for (const protos of net.readPrototypes()) {
          const units = protos.length / (CLASSES.length * net.config.prototypesPerClass);
          for (let r = 0; r < protos.length / units; r++) {
            const norm = Math.hypot(...protos.subarray(r * units, (r + 1) * units));
            assert.ok(Math.abs(norm - 1) < 1e-4, `prototype row ${r} has norm ${norm}`);
          }
        }
      } finally {
        net.dispose();
      }
    }
  });

  it('is reproducible for the same seed and differs for another', async function () {
    const run = async (seed: number) => {
      const net = tiny(seed);
      await trainNetwork(net, train, { epochs: 1, batchSize: 50 });
      const out = net.forward(test.images.subarray(0, 16 * 5), 5).at(-1)!.z;
      net.dispose();
      return out;
    };
    assert.deepEqual(await run(7), await run(7));
    assert.notDeepEqual(await run(7), await run(8));
  });

  it('saves and loads with identical predictions, classes and counts', async function () {
    const dir = path.join(tempDir(), 'model');
    const net = tiny();
    try {
      await trainNetwork(net, train, { epochs: 2, batchSize: 32 });
      net.teach('spring', test.images.subarray(0, 16 * 3), 3);
      await saveNetwork(dir, net);
      const loaded = await loadNetwork(dir, engine);
      try {
        assert.deepEqual(loaded.classes, net.classes);
        assert.deepEqual(loaded.counts, net.counts);
        assert.equal(loaded.version, net.version);
        assert.deepEqual(loaded.config, net.config);
        assert.deepEqual(loaded.predict(test.images, test.n), net.predict(test.images, test.n));
      } finally {
        loaded.dispose();
      }
    } finally {
      net.dispose();
    }
  });

  it('centres colour images by default, so brightness and contrast do not change a prediction; older model files load uncentred (and their transfer branch too)', function () {
    const defaultFor = (extra: Record<string, unknown>) => {
      const n = HffNetwork.create(engine, { inputSize: 12, layers: [8], ...extra }, CLASSES);
      n.dispose();
      return n.config.centerInput;
    };
    assert.equal(defaultFor({}), false, 'vectors');
    assert.equal(defaultFor({ inputShape: [2, 6, 1] }), false, 'grey images');
    assert.equal(defaultFor({ inputShape: [2, 2, 3] }), true, 'colour images');
    const net = tiny(3, { centerInput: true });
    try {
      const x = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i) + 0.5);
      const brighter = Float32Array.from(x, (v) => 3 * v + 7);
      const [a] = net.forward(x, 1).slice(-1);
      const [b] = net.forward(brighter, 1).slice(-1);
      assert.ok(maxAbsDiff(a.z, b.z) < 1e-5, `z moved by ${maxAbsDiff(a.z, b.z)}`);
      const files = net.toModelFiles();
      assert.equal(net.config.teaching.transferCenterInput, true, 'the random transfer branch centres by default');
      const reloaded = HffNetwork.fromModelFiles(engine, files);
      assert.equal(reloaded.config.teaching.transferCenterInput, true);
      reloaded.dispose();
      const { centerInput: _dropped, teaching, ...olderConfig } = net.config;
      const { transferCenterInput: _alsoDropped, ...olderTeaching } = teaching;
      const older = HffNetwork.fromModelFiles(engine, { ...files, manifest: { ...files.manifest, config: { ...olderConfig, teaching: olderTeaching } } }, '/m');
      try {
        assert.equal(older.config.centerInput, false);
        assert.equal(older.config.teaching.transferCenterInput, false);
        const [c] = older.forward(brighter, 1).slice(-1);
        assert.ok(maxAbsDiff(a.z, c.z) > 1e-3, 'an uncentred model sees the brightness change');
      } finally {
        older.dispose();
      }
    } finally {
      net.dispose();
    }
  });

  it('refuses model files whose tensors do not fit the architecture, naming the tensor', async function () {
    const net = tiny();
    const files = net.toModelFiles();
    net.dispose();
    const broken = { ...files, tensors: { ...files.tensors } };
    delete broken.tensors['layers.1.bias'];
    assert.throws(() => HffNetwork.fromModelFiles(engine, broken, '/m'), /\/m: tensor layers\.1\.bias is missing/);
    const reshaped = { ...files, tensors: { ...files.tensors, 'layers.0.weight': { shape: [8, 32], data: new Float32Array(256) } } };
    assert.throws(() => HffNetwork.fromModelFiles(engine, reshaped, '/m'), /layers\.0\.weight has shape \[8,32\] but the architecture needs \[16,32\]/);
    const wrongKind = { ...files, manifest: { ...files.manifest, kind: 'other' } };
    assert.throws(() => HffNetwork.fromModelFiles(engine, wrongKind, '/m'), /not an HFF network/);
  });

  it('teaches a new class from a few examples, without changing the weights', async function () {
    const net = tiny();
    try {
      await trainNetwork(net, train, { epochs: 3, batchSize: 32 });
      const weightsBefore = net.toModelFiles().tensors['layers.0.weight'].data;
      // A new part unlike the trained ones (a random cluster of this toy space sits among them: the trained-input
      // reference would rightly keep part of it for the trained classes).
      const random = new SeededRandom(5);
      const part = (n: number) => Float32Array.from({ length: n * 16 }, (_, i) => Math.max(0, (i % 16 < 4 ? 1.5 : 0) + random.gaussian() * 0.25));
      const shots = part(5);
      const r = net.teach('spring', shots, 5);
      assert.equal(r.created, true);
      assert.equal(r.index, 4);
      assert.equal(r.count, 5);
      assert.equal(r.sums.length, 2);
      assert.deepEqual(net.classes, [...CLASSES, 'spring']);
      assert.deepEqual(net.toModelFiles().tensors['layers.0.weight'].data, weightsBefore);
      const predictions = net.predict(part(20), 20);
      // Nearly all: the trained-input reference keeps the few that look as familiar as the trained parts' own inputs.
      assert.ok(predictions.filter((p) => p.label === 'spring').length >= 18, JSON.stringify(predictions.map((p) => p.label)));
      // Updating an existing class: mean of the first N, then ignored.
      const again = net.teach('spring', shots, 5, { mode: 'mean', meanOf: 7 });
      assert.equal(again.created, false);
      assert.equal(again.applied, 2);
      assert.equal(again.count, 7);
      assert.equal(net.teach('spring', shots, 5, { mode: 'mean', meanOf: 7 }).applied, 0);
      const ema = net.teach('spring', shots.subarray(0, 16), 1, { mode: 'ema', rate: 0.5 });
      assert.equal(ema.count, 8);
      assert.ok(ema.similarityBefore.every((s) => s !== null && s > 0.5));
    } finally {
      net.dispose();
    }
  });

  it('forgets and renames classes, and grows a model that started with none', async function () {
    const net = HffNetwork.create(engine, { inputSize: 16, layers: [20] }, []);
    try {
      assert.throws(() => net.predict(new Float32Array(16), 1), /no classes yet: teach one first/);
      const data = blobs(12, 3, 16, 9);
      for (const [cls, name] of ['left', 'right', 'up'].entries()) {
        const rows = new Float32Array(4 * 16);
        for (let i = 0; i < 4; i++) rows.set(data.images.subarray((i * 3 + cls) * 16, (i * 3 + cls + 1) * 16), i * 16);
        net.teach(name, rows, 4);
      }
      assert.deepEqual(net.classes, ['left', 'right', 'up']);
      const before = net.predict(data.images, data.n).map((p) => p.label);
      assert.deepEqual(net.forgetClass('right'), { label: 'right', index: 1, version: net.version });
      assert.deepEqual(net.classes, ['left', 'up']);
      assert.equal(net.readPrototypes()[0].length, 2 * 20);
      const after = net.predict(data.images, data.n).map((p) => p.label);
      before.forEach((label, i) => {
        if (label !== 'right') assert.equal(after[i], label);
      });
      net.renameClass('up', 'upward');
      assert.deepEqual(net.classes, ['left', 'upward']);
      assert.throws(() => net.renameClass('left', 'upward'), /a class of that name exists/);
      assert.throws(() => net.forgetClass('sideways'), /unknown class 'sideways'; known classes: left, upward/);
      const set = net.setClassPrototypes('down', [Float32Array.from({ length: 20 }, (_, i) => i)], 9);
      assert.equal(set.created, true);
      assert.equal(net.counts[2], 9);
    } finally {
      net.dispose();
    }
  });

  it('rejects bad input with messages that name the problem', async function () {
    const net = tiny();
    try {
      assert.throws(() => net.teach('', new Float32Array(16), 1), /label: a class name must not be empty/);
      assert.throws(() => net.teach('x', new Float32Array(16), 1, { mode: 'sometimes' as 'ema' }), /teach mode/);
      assert.throws(() => net.trainBatch(new Float32Array(16), 1, Int32Array.of(9)), /label 9 is outside 0\.\.3/);
      assert.throws(() => net.layerForward(5, new Float32Array(16), 1), /layer 5 does not exist/);
      const single = HffNetwork.create(engine, { inputSize: 16, layers: [8] }, ['only']);
      await assert.rejects(
        trainNetwork(single, { n: 1, inputSize: 16, images: new Float32Array(16), labels: Int32Array.of(0) }),
        /training needs at least two classes; the model has 1/,
      );
      single.dispose();
      assert.throws(() => HffNetwork.create(engine, { inputSize: 16, layers: [0] }), /layers\[0\] must be a positive integer/);
      assert.throws(() => HffNetwork.create(engine, { inputSize: 16, tau: -1 }), /tau must be a positive number/);
      assert.throws(() => HffNetwork.create(engine, { inputSize: 4 }, ['a', 'a']), /listed twice/);
      // Still works after all of that.
      assert.equal(net.predict(new Float32Array(16), 1).length, 1);
    } finally {
      net.dispose();
    }
    assert.throws(() => net.predict(new Float32Array(16), 1), /disposed/);
  });

  it('scores taught classes alike before and after their prototypes and the kept inputs are joined (20 predictions)', async function () {
    const net = tiny();
    try {
      await trainNetwork(net, train, { epochs: 2, batchSize: 32 });
      // A first prediction builds the engine's per-layer caches, which stay until the prototypes change.
      net.predict(test.images.subarray(0, 16), 1);
      const live = engine.liveTensors();
      const random = new SeededRandom(8);
      const part = (n: number) => Float32Array.from({ length: n * 16 }, (_, i) => Math.max(0, (i % 16 < 4 ? 1.5 : 0) + random.gaussian() * 0.25));
      net.teach('spring', part(5), 5);
      const mixed = Float32Array.of(...part(10), ...test.images.subarray(0, 10 * 16));
      const seen = (p: { label: string; score: number; margin: number }[]) => p.map((x) => [x.label, x.score, x.margin] as const);
      const first = seen(net.predict(mixed, 20));
      const separate = engine.liveTensors();
      for (let i = 0; i < 25; i++) net.predict(mixed.subarray(0, 16), 1);
      const withJoined = engine.liveTensors();
      assert.ok(withJoined > separate, 'the joined matrix is on the engine');
      const joined = seen(net.predict(mixed, 20));
      assert.deepEqual(
        joined.map(([label]) => label),
        first.map(([label]) => label),
      );
      assert.ok(first.some(([label]) => label === 'spring') && first.some(([label]) => label !== 'spring'));
      for (let i = 0; i < 20; i++) {
        assert.ok(Math.abs(joined[i][1] - first[i][1]) < 1e-5 && Math.abs(joined[i][2] - first[i][2]) < 1e-5, `input ${i}`);
      }
      // Teaching again replaces both; forgetting the class frees them.
      net.teach('spring', part(3), 3);
      for (let i = 0; i < 25; i++) net.predict(mixed.subarray(0, 16), 1);
      assert.equal(engine.liveTensors(), withJoined);
      net.forgetClass('spring');
      net.predict(mixed, 20);
      assert.equal(engine.liveTensors(), live);
    } finally {
      net.dispose();
    }
  });

  it('leaves the number of live tensors unchanged by training, prediction and teaching', async function () {
    const net = tiny();
    // A first prediction builds the engine's per-layer caches, which stay until the prototypes change.
    net.predict(test.images.subarray(0, 16), 1);
    const live = engine.liveTensors();
    await trainNetwork(net, train, { epochs: 1, batchSize: 32 });
    for (let i = 0; i < 200; i++) net.predict(test.images.subarray(0, 16), 1);
    net.predict(test.images, test.n);
    net.teach('extra', test.images.subarray(0, 32), 2);
    net.predict(test.images.subarray(0, 16), 1);
    // Taught classes keep their prototypes and the reference on the engine; more teaching replaces them.
    const withTaught = engine.liveTensors();
    for (let i = 0; i < 3; i++) {
      net.teach('extra', test.images.subarray(32 * i, 32 * (i + 1)), 2);
      net.teach(`more ${i}`, test.images.subarray(64, 96), 2);
      net.predict(test.images, test.n);
    }
    assert.equal(engine.liveTensors(), withTaught);
    for (let i = 0; i < 3; i++) net.forgetClass(`more ${i}`);
    net.forgetClass('extra');
    net.layerForward(1, new Float32Array(32), 1);
    net.predict(test.images.subarray(0, 16), 1);
    assert.equal(engine.liveTensors(), live);
    net.dispose();
    assert.ok(engine.liveTensors() < live, 'dispose frees the network');
  });

  it('writes a model directory that other tools can inspect', async function () {
    const dir = path.join(tempDir(), 'model');
    const net = tiny();
    await saveNetwork(dir, net);
    net.dispose();
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    assert.equal(manifest.kind, 'hff-network');
    assert.deepEqual(manifest.classes, CLASSES);
    assert.deepEqual(manifest.config.layers, [
      { kind: 'dense', units: 32 },
      { kind: 'dense', units: 24 },
    ]);
  });
});
