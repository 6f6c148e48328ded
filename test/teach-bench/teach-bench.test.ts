import assert from 'node:assert/strict';
import { createEngine } from '../../src/engines/backend';
import type { Engine } from '../../src/engines/types';
import type { Dataset } from '../../src/datasets/types';
import { HffNetwork, evaluateNetwork, trainNetwork, type LabelledData } from '../../src/hff';
import { SeededRandom } from '../../src/hff/random';
import { augmentDemonstrations, leaveOneOutScore } from '../../src/hff/teaching';
import { auroc, bestThreshold, rawNearestMeanAccuracy, runTeachBench } from '../../src/teach-bench';

/** Tiny 8x8 grey "parts": each class a fixed random pattern plus noise. */
function parts(n: number, classes: number, seed: number): Dataset {
  const size = 64;
  const centres = new SeededRandom(42);
  const c = Array.from({ length: classes }, () => Float32Array.from({ length: size }, () => (centres.next() < 0.35 ? 1 : 0)));
  const random = new SeededRandom(seed);
  const images = new Float32Array(n * size);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % classes;
    labels[i] = label;
    for (let j = 0; j < size; j++) images[i * size + j] = Math.min(1, Math.max(0, c[label][j] + random.gaussian() * 0.3));
  }
  return {
    name: 'parts', split: 'train', n, height: 8, width: 8, channels: 1, inputSize: size, images, labels,
    classes: Array.from({ length: classes }, (_, i) => `part${i}`),
  };
}

describe('teach-bench metrics', function () {
  it('auroc: Mann-Whitney probability, ties count one half', function () {
    assert.equal(auroc([3, 4], [1, 2]), 1);
    assert.equal(auroc([1, 2], [3, 4]), 0);
    assert.equal(auroc([0.9, 0.4], [0.5, 0.1]), 0.75);
    assert.equal(auroc([1, 1], [1, 1]), 0.5);
    assert.ok(Number.isNaN(auroc([], [1])));
  });

  it('bestThreshold maximises TPR - FPR', function () {
    const t = bestThreshold([0.8, 0.9, 0.7], [0.1, 0.2, 0.85]);
    assert.equal(t.threshold, 0.7);
    assert.equal(t.tpr, 1);
    assert.equal(t.fpr, 1 / 3);
    assert.equal(bestThreshold([0.8, 0.9], [0.1, 0.2]).fpr, 0);
  });

  it('raw-pixel nearest class mean: cosine to the normalised mean of the normalised shots', function () {
    // Class 0 shots point along x (one long, one short: normalising first makes them equal), class 1 along y.
    const shots = [
      { label: 0, data: Float32Array.of(10, 0, 1, 0) },
      { label: 1, data: Float32Array.of(0, 1, 0, 1) },
    ];
    const test = Float32Array.of(1, 0.1, 0.9, 0.2, 0, 2, 0.1, 0.5);
    assert.equal(rawNearestMeanAccuracy(shots, test, [0, 0, 1, 1], 2), 1);
    assert.equal(rawNearestMeanAccuracy(shots, test, [1, 1, 0, 0], 2), 0);
    // Without normalising the shots first, (10, 0) would dominate class 0's mean; with it, (1, 0.1) still goes to 0.
    assert.equal(rawNearestMeanAccuracy(shots, test.subarray(0, 2), [0], 2), 1);
  });

  it('leave-one-out score prefers a representation that separates the demonstrations', function () {
    const good = Float32Array.of(1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9);
    const bad = Float32Array.of(1, 0, 0, 1, 1, 0, 0, 1);
    const classes = [0, 0, 1, 1];
    assert.ok((leaveOneOutScore(good, 2, classes, 1) as number) > (leaveOneOutScore(bad, 2, classes, 1) as number));
    assert.equal(leaveOneOutScore(good, 2, [0, 0, 0, 0], 1), undefined);
  });

  it('augments image demonstrations with shifted copies, the original first', function () {
    const img = Float32Array.from({ length: 16 }, (_, i) => i);
    const { data, copies } = augmentDemonstrations(img, 1, [4, 4, 1], 'auto');
    assert.equal(copies, 9);
    assert.deepEqual(Array.from(data.subarray(0, 16)), Array.from(img));
    // [1, 0]: shifted right by one pixel, zero-filled on the left.
    assert.deepEqual(Array.from(data.subarray(16, 20)), [0, 0, 1, 2]);
    assert.equal(augmentDemonstrations(img, 1, undefined, 'auto').copies, 1);
    assert.equal(augmentDemonstrations(img, 1, [4, 4, 1], 'none').copies, 1);
  });
});

describe('teaching into a trained model', function () {
  let engine: Engine;
  before(async function () {
    engine = await createEngine(process.env.HFF_BACKEND ?? 'wasm');
  });

  function asData(ds: Dataset, keep: (label: number) => boolean): LabelledData {
    const rows: number[] = [];
    for (let i = 0; i < ds.n; i++) if (keep(ds.labels[i])) rows.push(i);
    const images = new Float32Array(rows.length * ds.inputSize);
    rows.forEach((r, i) => images.set(ds.images.subarray(r * 64, (r + 1) * 64), i * 64));
    return { n: rows.length, inputSize: 64, images, labels: Int32Array.from(rows, (r) => ds.labels[r]) };
  }

  const train = parts(600, 6, 1);
  const test = parts(300, 6, 2);

  /** The first 5 training images of part c. */
  function shotsOf(c: number): Float32Array {
    const shots = new Float32Array(5 * 64);
    let s = 0;
    for (let i = 0; i < train.n && s < 5; i++) if (train.labels[i] === c) shots.set(train.images.subarray(i * 64, (i + 1) * 64), 64 * s++);
    return shots;
  }

  /** A base model of parts 0-2 trained by trainNetwork, then taught parts 3-5 from 5 training images each. */
  async function taughtModel(teaching: Record<string, number> = {}) {
    const net = HffNetwork.create(
      engine,
      { inputSize: 64, inputShape: [8, 8, 1], layers: [48, 48], seed: 5, optimizer: { learningRate: 0.01 }, teaching },
      train.classes.slice(0, 3),
    );
    await trainNetwork(net, asData(train, (l) => l < 3), { epochs: 4, batchSize: 32 });
    const baseFiles = net.toModelFiles();
    for (const c of [3, 4, 5]) {
      const r = net.teach(train.classes[c], shotsOf(c), 5);
      assert.equal(r.created, true);
      assert.equal(r.sums.length, 2);
    }
    return { net, baseFiles };
  }

  const accuracy = async (net: HffNetwork, data: LabelledData) => (await evaluateNetwork(net, data)).accuracy;
  const baseTest = () => asData(test, (l) => l < 3);
  const novelTest = () => asData(test, (l) => l >= 3);

  it('takes at most teaching.maxTrainedLoss of the trained-input reference, recognises the taught parts, round-trips the model file', async function () {
    const { net, baseFiles } = await taughtModel();
    const base = HffNetwork.fromModelFiles(engine, baseFiles);
    try {
      // trainNetwork kept its 300 training images (fewer than the 512 it keeps at most) as the reference.
      assert.equal(net.trainedReferenceSize, 300);
      assert.deepEqual(net.taughtClasses, [3, 4, 5]);
      assert.ok(net.teachingSelection !== null);
      // The offsets let each taught class take its share of 0.5% of the reference inputs (each judged against the
      // others); on unseen images of the trained parts that holds within the sampling error of 150 images.
      assert.equal(net.config.teaching.maxTrainedLoss, 0.005);
      const takenOf = (m: HffNetwork) => m.predict(baseTest().images, baseTest().n).filter((p) => p.index >= 3).length;
      const taken = takenOf(net);
      assert.ok(taken <= 3, `${taken} of the 150 test images of trained parts went to taught classes`);
      const before = await accuracy(base, baseTest());
      const after = await accuracy(net, baseTest());
      assert.ok(after >= before - 0.02, `base accuracy ${before} -> ${after}`);
      const novel = novelTest();
      const p = net.predict(novel.images, novel.n, { topK: 6 });
      const among = p.filter((q, i) => q.top.find((t) => t.index >= 3)?.index === novel.labels[i]).length / novel.n;
      assert.ok(among > 0.9, `novel accuracy among novel ${among}`);
      const overall = p.filter((q, i) => q.index === novel.labels[i]).length / novel.n;
      assert.ok(overall > 0.5, `novel accuracy among all classes ${overall}`);
      // A larger share lets the taught classes take more of the trained parts' inputs.
      const files = net.toModelFiles();
      const looser = HffNetwork.fromModelFiles(engine, { ...files, manifest: { ...files.manifest, config: { ...net.config, teaching: { ...net.config.teaching, maxTrainedLoss: 0.3 } } } });
      try {
        assert.ok(takenOf(looser) > taken, 'a larger share takes more');
      } finally {
        looser.dispose();
      }
      // The demonstrations, the choice of representation and the reference are saved and restored.
      assert.deepEqual((files.manifest.taught as { demos: number[] }).demos, [0, 0, 0, 5, 5, 5]);
      assert.deepEqual(files.manifest.trainedReference, { samples: 300, layers: [1] });
      const loaded = HffNetwork.fromModelFiles(engine, files);
      try {
        assert.equal(loaded.trainedReferenceSize, 300);
        assert.deepEqual(loaded.teachingSelection, net.teachingSelection);
        assert.deepEqual(loaded.predict(test.images, test.n), net.predict(test.images, test.n));
      } finally {
        loaded.dispose();
      }
      const bad = { ...files, tensors: { ...files.tensors, 'trainedReference.familiarity': { shape: [299], data: new Float32Array(299) } } };
      assert.throws(() => HffNetwork.fromModelFiles(engine, bad, '/m'), /\/m: tensor trainedReference\.familiarity must have shape \[300\]/);
      // Training on a taught class makes it a trained class, and drops the reference, which no longer matches the weights.
      net.trainBatch(novel.images.subarray(0, 64), 1, Int32Array.of(novel.labels[0]));
      assert.equal(net.taughtClasses.includes(novel.labels[0]), false);
      assert.equal(net.trainedReferenceSize, 0);
    } finally {
      net.dispose();
      base.dispose();
    }
  });

  it('without a reference (older model files) calibrates on the demonstrations: calibration 1.5 keeps base accuracy within a point', async function () {
    const { net, baseFiles } = await taughtModel();
    net.dispose();
    const manifest = { ...baseFiles.manifest };
    delete manifest.trainedReference;
    const tensors = Object.fromEntries(Object.entries(baseFiles.tensors).filter(([name]) => !name.startsWith('trainedReference.')));
    const old = (calibration: number) => {
      const m = HffNetwork.fromModelFiles(engine, { tensors, manifest: { ...manifest, config: { ...(manifest.config as object), teaching: { calibration } } } });
      for (const c of [3, 4, 5]) {
        m.teach(train.classes[c], shotsOf(c), 5);
      }
      return m;
    };
    const plain = HffNetwork.fromModelFiles(engine, { tensors, manifest });
    const calibrated = old(1.5);
    const uncalibrated = old(0);
    try {
      assert.equal(calibrated.trainedReferenceSize, 0);
      const before = await accuracy(plain, baseTest());
      const after = await accuracy(calibrated, baseTest());
      assert.ok(after >= before - 0.01, `base accuracy ${before} -> ${after}`);
      // Without calibration (0, 0) the imprinted classes take base inputs: the calibration is what protects them.
      assert.ok((await accuracy(uncalibrated, baseTest())) <= after, 'calibration never lowers base accuracy here');
      // A model file from before taught classes existed still loads, with every class scored as trained.
      const files = calibrated.toModelFiles();
      const legacyManifest = { ...files.manifest };
      delete legacyManifest.taught;
      const legacy = HffNetwork.fromModelFiles(engine, { ...files, manifest: legacyManifest });
      assert.deepEqual(legacy.taughtClasses, []);
      legacy.dispose();
    } finally {
      plain.dispose();
      calibrated.dispose();
      uncalibrated.dispose();
    }
  });
});

describe('bench-teach end to end (tiny synthetic data)', function () {
  it('prints one JSON object per shot count with the documented keys', async function () {
    const train = parts(400, 6, 3);
    const test = { ...parts(120, 6, 4), split: 'test' as const };
    const lines: string[] = [];
    const results = await runTeachBench({
      dataset: 'folder',
      data: '',
      train,
      test,
      baseClasses: [0, 1, 2],
      shots: [1, 3],
      seeds: 2,
      layers: [32, 32],
      epochs: 2,
      backend: process.env.HFF_BACKEND ?? 'wasm',
      json: true,
      write: (t) => lines.push(t),
      log: () => {},
    });
    const objects = lines.join('').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(objects.length, 2);
    assert.deepEqual(objects.map((o) => o.shots), [1, 3]);
    for (const o of objects) {
      for (const key of ['shots', 'novel_accuracy', 'novel_accuracy_all_classes', 'raw_baseline', 'base_accuracy_before', 'base_accuracy_after', 'novel_auroc']) {
        assert.equal(typeof o[key], 'number', `${key} in ${JSON.stringify(o)}`);
        assert.ok(o[key] >= 0 && o[key] <= 1 || key === 'shots', `${key} = ${o[key]}`);
      }
      assert.deepEqual(o.novel_classes, ['part3', 'part4', 'part5']);
      assert.equal(o.selection.length, 2);
    }
    assert.equal(results.length, 2);
  });
});
