#!/usr/bin/env node
// Trains the demo's bundled model (demo/model) on Fashion-MNIST (MIT licence, Zalando) without the classes
// the demo keeps "never seen" (Bag, Ankle boot), the same way `hff train` does:
//
//   node scripts/make-demo-model.js --data /path/to/fashion-mnist [--out demo/model]
//     [--layers 256,256] [--epochs 3] [--seed 1] [--classes 0-7] [--limit N]
//
// Equivalent CLI command, once `hff train` has a class filter:
//   npx hff train --dataset fashion-mnist --data DIR --classes 0-7 --layers 256,256 --epochs 3 --seed 1 --out demo/model
//
// It also measures the best-cosine scores of known and held-out test images and stores an unknown threshold
// between them in the model (config.unknownThreshold), so the demo flags the unseen part as unknown.
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const root = path.resolve(__dirname, '..');
const lib = require(path.join(root, 'dist', 'src'));
const { subsetByClasses } = require(path.join(root, 'dist', 'src', 'datasets', 'subset'));

function parseArgs(argv) {
  const o = { data: undefined, out: path.join(root, 'demo', 'model'), layers: [256, 256], epochs: 3, seed: 1, classes: '0-7', limit: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--data') o.data = v();
    else if (a === '--out') o.out = path.resolve(v());
    else if (a === '--layers') o.layers = v().split(',').map(Number);
    else if (a === '--epochs') o.epochs = Number(v());
    else if (a === '--seed') o.seed = Number(v());
    else if (a === '--classes') o.classes = v();
    else if (a === '--limit') o.limit = Number(v());
    else throw new Error(`unknown option ${a}`);
  }
  if (!o.data) throw new Error('--data DIR (the folder with the Fashion-MNIST IDX files) is required');
  return o;
}

/** "0-7" or "0,1,2" -> [0..7]. */
function parseClasses(text) {
  const out = [];
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`bad --classes entry ${part}`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let c = a; c <= b; c++) out.push(c);
  }
  return [...new Set(out)].sort((x, y) => x - y);
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
}

async function main() {
  const argv = process.argv.slice(2);
  const o = parseArgs(argv);
  const keep = parseClasses(o.classes);
  // Labels are not renumbered by subsetByClasses, so the kept classes must be 0..k-1.
  if (keep.some((c, i) => c !== i)) throw new Error('--classes must be 0..k-1 (a prefix of the class list)');
  const engine = await lib.createEngine();
  const train = subsetByClasses(await lib.loadDataset({ name: 'fashion-mnist', dir: o.data, split: 'train', limit: o.limit }), keep);
  const testAll = await lib.loadDataset({ name: 'fashion-mnist', dir: o.data, split: 'test' });
  const test = subsetByClasses(testAll, keep);
  const heldOut = subsetByClasses(testAll, testAll.classes.map((_, i) => i).filter((i) => !keep.includes(i)));
  const classes = train.classes.slice(0, keep.length);
  console.error(`backend ${engine.name}; training 784-${o.layers.join('-')} on ${train.n} examples of ${classes.length} classes (${classes.join(', ')})`);
  const net = lib.HffNetwork.create(
    engine,
    { inputSize: train.inputSize, inputShape: [train.height, train.width, train.channels], layers: o.layers, seed: o.seed },
    classes,
  );
  const summary = await lib.trainNetwork(net, { ...train }, {
    epochs: o.epochs,
    seed: o.seed,
    onProgress: (p) => {
      if (p.batch === p.batches) console.error(`epoch ${p.epoch}/${p.epochs}: loss ${p.loss.toFixed(4)}, running accuracy ${(100 * p.accuracy).toFixed(2)}%`);
    },
  });
  const evaluation = await lib.evaluateNetwork(net, { ...test, labels: test.labels });

  // Best-cosine scores of known test images and of the held-out classes: the threshold sits between them.
  const scores = (ds) => {
    const s = [];
    for (let i = 0; i < ds.n; i += 500) {
      const count = Math.min(500, ds.n - i);
      for (const p of net.predict(ds.images.subarray(i * ds.inputSize, (i + count) * ds.inputSize), count)) s.push(p.score);
    }
    return s.sort((a, b) => a - b);
  };
  const known = scores(test);
  const unseen = scores(heldOut);
  // 10th percentile of known scores: 90% of known parts stay known.
  const threshold = Math.round(quantile(known, 0.1) * 1000) / 1000;
  const unseenBelow = unseen.filter((x) => x < threshold).length / unseen.length;
  console.error(
    `known scores p10/p50 ${quantile(known, 0.1).toFixed(3)}/${quantile(known, 0.5).toFixed(3)}; ` +
      `held-out p50/p90 ${quantile(unseen, 0.5).toFixed(3)}/${quantile(unseen, 0.9).toFixed(3)}; ` +
      `threshold ${threshold} flags ${(100 * unseenBelow).toFixed(1)}% of held-out images unknown`,
  );
  net.config.unknownThreshold = threshold;
  net.metadata = {
    training: {
      dataset: 'fashion-mnist',
      licence: 'MIT (Zalando SE), https://github.com/zalandoresearch/fashion-mnist',
      split: 'train',
      classes: o.classes,
      heldOut: testAll.classes.filter((_, i) => !keep.includes(i)),
      n: train.n,
      epochs: o.epochs,
      seed: o.seed,
      layers: o.layers,
      limit: o.limit ?? null,
      trainAccuracy: summary.epochs[summary.epochs.length - 1].accuracy,
      testAccuracy: evaluation.accuracy,
      testN: evaluation.n,
      unknownThreshold: threshold,
      heldOutUnknownRate: unseenBelow,
      backend: engine.name,
      command: ['node', 'scripts/make-demo-model.js', ...argv.map((a) => (a === o.data ? 'DATA_DIR' : a))].join(' '),
    },
  };
  fs.rmSync(o.out, { recursive: true, force: true });
  await lib.saveNetwork(o.out, net);
  console.log(
    `saved ${o.out}: test accuracy ${(100 * evaluation.accuracy).toFixed(2)}% on ${evaluation.n} images of the ${classes.length} known classes, ` +
      `unknown threshold ${threshold}`,
  );
  net.dispose();
}

main().catch((err) => {
  console.error(`make-demo-model: ${err.message}`);
  process.exit(1);
});
