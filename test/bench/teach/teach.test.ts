import assert from 'node:assert/strict';
import { createEngine } from '../../../src/engines/backend';
import type { Engine } from '../../../src/engines/types';
import type { Dataset } from '../../../src/datasets/types';
import { HffNetwork, evaluateNetwork, trainNetwork, type LabelledData } from '../../../src/hff';
import { SeededRandom } from '../../../src/hff/random';
import { sphericalKMeans } from '../../../src/hff/taught-classes';
import { augmentDemonstrations } from '../../../src/hff/teaching';
import { auroc, bestThreshold, rawNearestDemonstrationAccuracy, rawNearestMeanAccuracy, runTeachBench } from '../../../src/bench/teach';

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
    name: 'parts',
    split: 'train',
    n,
    height: 8,
    width: 8,
    channels: 1,
    inputSize: size,
    images,
    labels,
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

  it('raw-pixel nearest demonstration: the class of the most similar single row', function () {
    // Class 0 has two demonstrations far apart; its mean would sit between them, nearer class 1's.
    const shots = [
      { label: 0, data: Float32Array.of(1, 0, 0, 1) },
      { label: 1, data: Float32Array.of(0.7, 0.7) },
    ];
    const test = Float32Array.of(0.95, 0.05, 0.05, 0.95, 0.6, 0.8);
    assert.equal(rawNearestDemonstrationAccuracy(shots, test, [0, 0, 1], 2), 1);
    assert.equal(rawNearestMeanAccuracy(shots, test, [0, 0, 1], 2) < 1, true);
  });

  it('spherical k-means: k unit centres, one per cluster of unit rows', function () {
    const rows = [Float32Array.of(1, 0), Float32Array.of(0.99, 0.141), Float32Array.of(0, 1), Float32Array.of(0.141, 0.99)].map((r) => {
      const n = Math.hypot(r[0], r[1]);
      return Float32Array.of(r[0] / n, r[1] / n);
    });
    const centres = sphericalKMeans(rows, 2);
    assert.equal(centres.length, 2);
    for (const c of centres) assert.ok(Math.abs(Math.hypot(c[0], c[1]) - 1) < 1e-5);
    const sorted = centres.map((c) => c[0]).sort();
    assert.ok(sorted[0] < 0.3 && sorted[1] > 0.9, `centres ${centres.map((c) => Array.from(c))}`);
  });

  it('augments image demonstrations with shifted and turned copies, the original first', function () {
    const img = Float32Array.from({ length: 16 }, (_, i) => i);
    const { data, copies } = augmentDemonstrations(img, 1, [4, 4, 1], 'auto');
    // 8 one-pixel shifts and two small turns; grey images are never mirrored.
    assert.equal(copies, 11);
    assert.deepEqual(Array.from(data.subarray(0, 16)), Array.from(img));
    // [1, 0]: shifted right by one pixel, zero-filled on the left.
    assert.deepEqual(Array.from(data.subarray(16, 20)), [0, 0, 1, 2]);
    assert.equal(augmentDemonstrations(img, 1, undefined, 'auto').copies, 1);
    assert.equal(augmentDemonstrations(img, 1, [4, 4, 1], 'none').copies, 1);
    // Colour: mirrored, shifted by two pixels, turned, lighter and darker.
    const colour = Float32Array.from({ length: 4 * 4 * 3 }, (_, i) => (i % 7) / 7);
    const c = augmentDemonstrations(colour, 1, [4, 4, 3], 'auto');
    assert.equal(c.copies, 12);
    assert.deepEqual(Array.from(c.data.subarray(48 + 0, 48 + 3)), Array.from(colour.subarray(9, 12)), 'copy 1 is the mirror image');
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
    await trainNetwork(
      net,
      asData(train, (l) => l < 3),
      { epochs: 4, batchSize: 32 },
    );
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

  it('names taught parts among all classes without costing the trained ones, and round-trips the model file', async function () {
    const { net, baseFiles } = await taughtModel();
    const base = HffNetwork.fromModelFiles(engine, baseFiles);
    try {
      // trainNetwork kept its 300 training images (fewer than the 512 it keeps at most) as the reference.
      assert.equal(net.trainedReferenceSize, 300);
      assert.deepEqual(net.taughtClasses, [3, 4, 5]);
      assert.deepEqual(
        [3, 4, 5].map((c) => net.demonstrationCount(c)),
        [5, 5, 5],
      );
      const chosen = net.teachingRepresentation;
      const key = chosen.scoring === 'mean' ? `${chosen.representation} mean` : (chosen.representation as string);
      assert.ok(chosen.representation !== null && chosen.scores[key] !== undefined, JSON.stringify(chosen));
      const before = await accuracy(base, baseTest());
      const after = await accuracy(net, baseTest());
      assert.ok(after >= before - 0.02, `base accuracy ${before} -> ${after}`);
      const novel = novelTest();
      const p = net.predict(novel.images, novel.n, { topK: 6 });
      const overall = p.filter((q, i) => q.index === novel.labels[i]).length / novel.n;
      assert.ok(overall > 0.9, `novel accuracy among all classes ${overall}`);
      for (const q of p.slice(0, 20)) assert.ok(q.margin >= 0, `margin ${q.margin} of ${JSON.stringify(q)}`);
      // The demonstrations, the choice of representation and the reference are saved and restored.
      const files = net.toModelFiles();
      assert.deepEqual((files.manifest.taught as { demos: number[] }).demos, [0, 0, 0, 5, 5, 5]);
      assert.equal((files.manifest.taught as { representation: string }).representation, chosen.representation);
      assert.deepEqual(files.manifest.trainedReference, { samples: 300, kind: 'inputs' });
      const loaded = HffNetwork.fromModelFiles(engine, files);
      try {
        assert.equal(loaded.trainedReferenceSize, 300);
        assert.deepEqual(loaded.teachingRepresentation, chosen);
        assert.deepEqual(loaded.predict(test.images, test.n), net.predict(test.images, test.n));
      } finally {
        loaded.dispose();
      }
      const bad = { ...files, tensors: { ...files.tensors, 'trainedReference.inputs': { shape: [299, 64], data: new Float32Array(299 * 64) } } };
      assert.throws(() => HffNetwork.fromModelFiles(engine, bad, '/m'), /\/m: tensor trainedReference\.inputs must have shape \[300, 64\]/);
      // Training on a taught class makes it a trained class, and drops the reference, which no longer matches the weights.
      net.trainBatch(novel.images.subarray(0, 64), 1, Int32Array.of(novel.labels[0]));
      assert.equal(net.taughtClasses.includes(novel.labels[0]), false);
      assert.equal(net.trainedReferenceSize, 0);
    } finally {
      net.dispose();
      base.dispose();
    }
  });

  it('a taught part wins only where it is nearer than every kept training input: a margin protects the trained parts more', async function () {
    const { net } = await taughtModel();
    const strict = HffNetwork.fromModelFiles(engine, withTeaching(net.toModelFiles(), { margin: 0.5 }));
    try {
      const taken = (m: HffNetwork) => m.predict(baseTest().images, baseTest().n).filter((p) => p.index >= 3).length;
      const named = (m: HffNetwork) => m.predict(novelTest().images, novelTest().n).filter((p, i) => p.index === novelTest().labels[i]).length;
      assert.ok(taken(strict) <= taken(net));
      assert.ok(named(strict) < named(net), 'a margin of 0.5 cosine keeps most taught parts from winning');
    } finally {
      net.dispose();
      strict.dispose();
    }
  });

  it('one demonstration is enough to name a part; past keepDemos the redundant demonstrations go first', async function () {
    const net = HffNetwork.create(
      engine,
      { inputSize: 64, inputShape: [8, 8, 1], layers: [48], seed: 5, teaching: { keepDemos: 4 } },
      train.classes.slice(0, 3),
    );
    try {
      await trainNetwork(
        net,
        asData(train, (l) => l < 3),
        { epochs: 3, batchSize: 32 },
      );
      net.teach(train.classes[3], shotsOf(3).subarray(0, 64), 1);
      const novel = asData(test, (l) => l === 3);
      const one = net.predict(novel.images, novel.n).filter((p) => p.label === 'part3').length / novel.n;
      assert.ok(one > 0.8, `one demonstration: ${one}`);
      // Four copies of one image and one other: the copies are dropped first.
      const same = shotsOf(4).subarray(0, 64);
      const rows = new Float32Array(6 * 64);
      for (let i = 0; i < 5; i++) rows.set(same, i * 64);
      rows.set(shotsOf(4).subarray(64, 128), 5 * 64);
      net.teach(train.classes[4], rows, 6);
      assert.equal(net.demonstrationCount('part4'), 4);
      const kept = net.toModelFiles().tensors['teach.demos'].data;
      const rowsKept = Array.from({ length: 5 }, (_, i) => Array.from(kept.subarray(i * 64, (i + 1) * 64)).join(','));
      assert.ok(rowsKept.includes(Array.from(shotsOf(4).subarray(64, 128)).join(',')), 'the different demonstration is kept');
    } finally {
      net.dispose();
    }
  });

  it('a fixed representation is honoured; impossible settings are refused by name', function () {
    const net = HffNetwork.create(engine, { inputSize: 64, inputShape: [8, 8, 1], layers: [16, 16], teaching: { representation: 'input' } }, ['a']);
    try {
      net.teach('b', shotsOf(4), 5);
      assert.equal(net.teachingRepresentation.representation, 'input');
    } finally {
      net.dispose();
    }
    assert.throws(
      () => HffNetwork.create(engine, { inputSize: 64, layers: [16], teaching: { representation: 'layer:3' as 'input' } }),
      /teaching\.representation must be .* below 1/,
    );
    assert.throws(
      () => HffNetwork.create(engine, { inputSize: 64, layers: [16], teaching: { representation: 'transfer', transferLayers: [] } }),
      /needs teaching\.transferLayers/,
    );
    assert.throws(
      () => HffNetwork.create(engine, { inputSize: 64, layers: [16], teaching: { keepDemos: 0 } }),
      /teaching\.keepDemos must be an integer from 1 to 1000/,
    );
  });

  it('without a reference (older model files) taught parts meet trained ones on the imprinted prototypes; retired settings load', async function () {
    const { net, baseFiles } = await taughtModel();
    net.dispose();
    const manifest = { ...baseFiles.manifest };
    delete manifest.trainedReference;
    const tensors = Object.fromEntries(Object.entries(baseFiles.tensors).filter(([name]) => !name.startsWith('trainedReference.')));
    // Files of earlier versions carry the retired calibration settings and a reference of per-layer outputs.
    const config = { ...(manifest.config as object), teaching: { calibration: 0.4, maxTrainedLoss: 0.005, transferPreference: 0.05 } };
    const old = HffNetwork.fromModelFiles(engine, { tensors, manifest: { ...manifest, config, trainedReference: { samples: 3, layers: [1] } } });
    try {
      assert.equal(old.trainedReferenceSize, 0);
      assert.equal('calibration' in old.config.teaching, false);
      for (const c of [3, 4, 5]) old.teach(train.classes[c], shotsOf(c), 5);
      const novel = novelTest();
      const named = old.predict(novel.images, novel.n).filter((p, i) => p.index === novel.labels[i]).length / novel.n;
      assert.ok(named > 0.5, `taught parts named among all classes: ${named}`);
      // A model file from before taught classes existed still loads, with every class scored as trained.
      const files = old.toModelFiles();
      const legacyManifest = { ...files.manifest };
      delete legacyManifest.taught;
      const legacy = HffNetwork.fromModelFiles(engine, { ...files, manifest: legacyManifest });
      assert.deepEqual(legacy.taughtClasses, []);
      legacy.dispose();
    } finally {
      old.dispose();
    }
  });
});

describe('teaching with image features', function () {
  let engine: Engine;
  before(async function () {
    engine = await createEngine(process.env.HFF_BACKEND ?? 'wasm');
  });

  const HUES: [number, number, number][] = [
    [0.9, 0.1, 0.1],
    [0.1, 0.8, 0.1],
    [0.1, 0.2, 0.9],
    [0.9, 0.8, 0.1],
    [0.8, 0.1, 0.8],
    [0.1, 0.8, 0.8],
  ];

  /** 12x12 colour "parts": a small square of the class's colour, anywhere, on random pale clutter (pixels say little). */
  function colourParts(n: number, seed: number): LabelledData {
    const random = new SeededRandom(seed);
    const size = 12 * 12 * 3;
    const images = new Float32Array(n * size);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const label = i % HUES.length;
      labels[i] = label;
      const img = images.subarray(i * size, (i + 1) * size);
      for (let p = 0; p < img.length; p++) img[p] = 0.3 + 0.4 * random.next();
      const side = 3 + Math.floor(random.next() * 2);
      const x0 = Math.floor(random.next() * (12 - side));
      const y0 = Math.floor(random.next() * (12 - side));
      for (let y = y0; y < y0 + side; y++) for (let x = x0; x < x0 + side; x++) img.set(HUES[label], (y * 12 + x) * 3);
    }
    return { n, inputSize: size, images, labels };
  }

  function rowsOf(data: LabelledData, keep: (label: number) => boolean, limit = Infinity): LabelledData {
    const rows: number[] = [];
    for (let i = 0; i < data.n && rows.length < limit; i++) if (keep(data.labels[i])) rows.push(i);
    const size = data.inputSize;
    const images = new Float32Array(rows.length * size);
    rows.forEach((r, i) => images.set(data.images.subarray(r * size, (r + 1) * size), i * size));
    return { n: rows.length, inputSize: size, images, labels: Int32Array.from(rows, (r) => data.labels[r]) };
  }

  it('parts told apart by colour alone are scored by their colour histogram, chosen by leave-one-out, and named among all classes', async function () {
    const train = colourParts(600, 1);
    const test = colourParts(300, 2);
    const names = HUES.map((_, i) => `part${i}`);
    const net = HffNetwork.create(
      engine,
      { inputSize: 432, inputShape: [12, 12, 3], layers: [64, 64], seed: 3, optimizer: { learningRate: 0.01 } },
      names.slice(0, 3),
    );
    try {
      await trainNetwork(
        net,
        rowsOf(train, (l) => l < 3),
        { epochs: 4, batchSize: 32 },
      );
      const base = rowsOf(test, (l) => l < 3);
      const before = (await evaluateNetwork(net, base)).accuracy;
      for (const c of [3, 4, 5]) net.teach(names[c], rowsOf(train, (l) => l === c, 5).images, 5);
      assert.equal(net.teachingRepresentation.representation, 'colour', JSON.stringify(net.teachingRepresentation));
      const novel = rowsOf(test, (l) => l >= 3);
      const named = net.predict(novel.images, novel.n).filter((p, i) => p.index === novel.labels[i]).length / novel.n;
      assert.ok(named > 0.9, `taught parts among all classes: ${named}`);
      const after = (await evaluateNetwork(net, base)).accuracy;
      assert.ok(after >= before - 0.03, `trained parts ${before} -> ${after}`);
      const loaded = HffNetwork.fromModelFiles(engine, net.toModelFiles());
      try {
        assert.equal(loaded.teachingRepresentation.representation, 'colour');
        const first = test.images.subarray(0, 20 * 432);
        const again = loaded.predict(first, 20);
        net.predict(first, 20).forEach((p, i) => {
          assert.equal(again[i].label, p.label);
          assert.ok(Math.abs(again[i].score - p.score) < 1e-5);
        });
      } finally {
        loaded.dispose();
      }
    } finally {
      net.dispose();
    }
  });

  it('image features exist only for images: colour for colour images, edges for any', function () {
    const make = (inputShape: [number, number, number] | undefined, representation: string) =>
      HffNetwork.create(engine, { inputSize: 48, inputShape, layers: [8], teaching: { representation: representation as 'input' } }, ['a']).dispose();
    make([4, 4, 3], 'colour');
    make([4, 4, 3], 'edges');
    make([4, 12, 1], 'edges');
    make([4, 12, 1], 'layers+edges');
    assert.throws(
      () => make([4, 12, 1], 'colour'),
      /teaching\.representation must be 'auto', 'input', 'transfer', 'edges', 'layers\+edges', 'layers' or 'layer:N' with N below 1, got "colour"/,
    );
    assert.throws(
      () => make(undefined, 'edges'),
      /teaching\.representation must be 'auto', 'input', 'transfer', 'layers' or 'layer:N' with N below 1, got "edges"/,
    );
  });
});

function withTeaching(files: ReturnType<HffNetwork['toModelFiles']>, teaching: Record<string, unknown>) {
  const config = files.manifest.config as { teaching: Record<string, unknown> };
  return { ...files, manifest: { ...files.manifest, config: { ...config, teaching: { ...config.teaching, ...teaching } } } };
}

describe('bench-teach end to end (tiny synthetic data)', function () {
  it('prints one JSON object per shot count with the documented keys', async function () {
    const train = parts(400, 6, 3);
    const test = { ...parts(120, 6, 4), split: 'test' as const };
    const lines: string[] = [];
    const { results, timing } = await runTeachBench({
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
      timingClasses: 4,
      json: true,
      write: (t) => lines.push(t),
      log: () => {},
    });
    const all = lines
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(all.length, 3);
    const objects = all.slice(0, 2);
    assert.deepEqual(all[2].prediction_timing, timing);
    assert.equal(timing?.classes, 4);
    assert.ok((timing?.taught_ms as number) > 0 && (timing?.base_ms as number) > 0);
    assert.ok((timing?.taught_cpu_ms as number) >= 0 && (timing?.base_cpu_ms as number) >= 0);
    assert.equal(timing?.ratio, (timing?.taught_ms as number) / (timing?.base_ms as number));
    assert.match(timing?.representation as string, /^[a-z:0-9+]+( mean)?$/);
    assert.deepEqual(
      objects.map((o) => o.shots),
      [1, 3],
    );
    for (const o of objects) {
      for (const key of [
        'shots',
        'novel_accuracy',
        'novel_accuracy_all_classes',
        'raw_nearest_mean',
        'raw_nearest_demonstration',
        'base_accuracy_before',
        'base_accuracy_after',
        'novel_auroc',
      ]) {
        assert.equal(typeof o[key], 'number', `${key} in ${JSON.stringify(o)}`);
        assert.ok((o[key] >= 0 && o[key] <= 1) || key === 'shots', `${key} = ${o[key]}`);
      }
      assert.deepEqual(o.novel_classes, ['part3', 'part4', 'part5']);
      assert.equal(o.max_trained_loss, 0.01, 'the model default is the trade-off reported');
      assert.equal(o.representation.length, 2);
      assert.ok(Math.abs(o.trained_classes_lost_points - (o.base_accuracy_before - o.base_accuracy_after) * 100) < 1e-9);
    }
    assert.equal(results.length, 2);
  });

  it('takes a teaching setting (the --max-trained-loss trade-off), logs it and reports it in every result', async function () {
    const logged: string[] = [];
    const { results } = await runTeachBench({
      dataset: 'folder',
      data: '',
      train: parts(300, 6, 5),
      test: { ...parts(90, 6, 6), split: 'test' as const },
      baseClasses: [0, 1, 2],
      shots: [2],
      seeds: 1,
      layers: [16],
      epochs: 1,
      backend: process.env.HFF_BACKEND ?? 'wasm',
      timingClasses: 0,
      teaching: { maxTrainedLoss: 0.25 },
      log: (t) => logged.push(t),
    });
    assert.equal(results[0].max_trained_loss, 0.25);
    assert.match(logged.join(''), /teaching settings changed: \{"maxTrainedLoss":0\.25\}/);
  });
});
