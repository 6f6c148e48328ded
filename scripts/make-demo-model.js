#!/usr/bin/env node
// Makes the demo's bundled model (demo/model) in two steps:
//
//   1. `hff train` on Fashion-MNIST (MIT licence, Zalando) without the classes the demo keeps "never seen"
//      (8 Bag, 9 Ankle boot):
//        npx hff train --dataset fashion-mnist --data DIR --classes 0-7 --layers 256,256 --epochs 3 --lr-schedule constant --seed 1 --out demo/model --force
//   2. the unknown threshold: the best-cosine scores of the known test images and of the held-out classes are
//      measured and a threshold between them (the 10th percentile of the known scores, so 90% of known parts stay
//      known) is stored in the model (config.unknownThreshold, metadata.calibration), so the demo flags the
//      unseen part as unknown.
//   3. the kept training inputs a taught part must be nearer than (the trained-input reference, as `hff train` keeps
//      it; added to models saved before the reference kept inputs), and the share of them a taught part may take
//      (teaching.maxTrainedLoss): 0.03 here, above the library's 0.01, so that the part taught in the demo is
//      recognised most of the time; with teaching.margin -1 that share alone sets how near a frame must be
//      (the library's margin 0 also asks it to be nearer a demonstration than every kept training input).
//
//   node scripts/make-demo-model.js --data /path/to/fashion-mnist [--out demo/model] [--layers 256,256]
//     [--epochs 3] [--seed 1] [--classes 0-7] [--max-trained-loss 0.03] [--margin -1] [--backend NAME] [--skip-train]
//
// --skip-train only recalibrates an existing model.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const lib = require(path.join(root, 'dist', 'src'));
const { subsetByClasses } = require(path.join(root, 'dist', 'src', 'datasets', 'subset'));
const { parseClassList } = require(path.join(root, 'dist', 'src', 'cli', 'train'));

function parseArgs(argv) {
  const o = { data: undefined, out: 'demo/model', layers: '256,256', epochs: '3', seed: '1', classes: '0-7', maxTrainedLoss: '0.03', margin: '-1', backend: undefined, skipTrain: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--data') o.data = v();
    else if (a === '--out') o.out = v();
    else if (a === '--layers') o.layers = v();
    else if (a === '--epochs') o.epochs = v();
    else if (a === '--seed') o.seed = v();
    else if (a === '--classes') o.classes = v();
    else if (a === '--backend') o.backend = v();
    else if (a === '--skip-train') o.skipTrain = true;
    else if (a === '--max-trained-loss') o.maxTrainedLoss = v();
    else if (a === '--margin') o.margin = v();
    else throw new Error(`unknown option ${a}`);
  }
  if (!o.data) throw new Error('--data DIR (the folder with the Fashion-MNIST IDX files) is required');
  return o;
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const out = path.resolve(o.out);
  if (!o.skipTrain) {
    const args = ['train', '--dataset', 'fashion-mnist', '--data', o.data, '--classes', o.classes, '--layers', o.layers, '--epochs', o.epochs, '--lr-schedule', 'constant', '--seed', o.seed, '--out', o.out, '--force'];
    if (o.backend) args.push('--backend', o.backend);
    // A fresh folder: no weight file of an earlier model stays next to the new one.
    fs.rmSync(out, { recursive: true, force: true });
    console.error(`make-demo-model: npx hff ${args.join(' ')}`);
    const r = spawnSync(process.execPath, [path.join(root, 'bin', 'hff.js'), ...args], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`hff train failed (exit ${r.status})`);
  }

  // Step 2: calibrate the unknown threshold on the test split.
  const keep = parseClassList(o.classes);
  const engine = await lib.createEngine(o.backend);
  const net = await lib.loadNetwork(out, engine);
  if (net.trainedReferenceSize === 0) {
    const trainAll = await lib.loadDataset({ name: 'fashion-mnist', dir: o.data, split: 'train' });
    const known = subsetByClasses(trainAll, keep);
    lib.keepTrainedReference(net, { n: known.n, inputSize: known.inputSize, images: known.images, labels: known.labels });
    console.error(`make-demo-model: kept ${net.trainedReferenceSize} training images as the trained-input reference`);
  }
  const testAll = await lib.loadDataset({ name: 'fashion-mnist', dir: o.data, split: 'test' });
  const known = subsetByClasses(testAll, keep);
  const heldOutClasses = testAll.classes.map((_, i) => i).filter((i) => !keep.includes(i));
  const heldOut = subsetByClasses(testAll, heldOutClasses);
  const scores = (ds) => {
    const s = [];
    for (let i = 0; i < ds.n; i += 500) {
      const count = Math.min(500, ds.n - i);
      for (const p of net.predict(ds.images.subarray(i * ds.inputSize, (i + count) * ds.inputSize), count)) s.push(p.score);
    }
    return s.sort((a, b) => a - b);
  };
  const knownScores = scores(known);
  const unseenScores = scores(heldOut);
  const threshold = Math.round(quantile(knownScores, 0.1) * 1000) / 1000;
  const unseenBelow = unseenScores.filter((x) => x < threshold).length / unseenScores.length;
  console.error(
    `make-demo-model: known scores p10/p50 ${quantile(knownScores, 0.1).toFixed(3)}/${quantile(knownScores, 0.5).toFixed(3)}; ` +
      `held-out p50/p90 ${quantile(unseenScores, 0.5).toFixed(3)}/${quantile(unseenScores, 0.9).toFixed(3)}; ` +
      `threshold ${threshold} flags ${(100 * unseenBelow).toFixed(1)}% of held-out images unknown`,
  );
  net.config.unknownThreshold = threshold;
  net.config.teaching.maxTrainedLoss = Number(o.maxTrainedLoss);
  net.config.teaching.margin = Number(o.margin);
  // The data folder as it was given (relative to the checkout), not this machine's absolute path.
  const trainingMeta = net.metadata && net.metadata.training;
  if (trainingMeta && typeof trainingMeta.data === 'string') trainingMeta.data = path.relative(root, trainingMeta.data) || '.';
  net.metadata = {
    ...net.metadata,
    dataset: {
      name: 'Fashion-MNIST',
      licence: 'MIT (Zalando SE), https://github.com/zalandoresearch/fashion-mnist',
      heldOut: heldOutClasses.map((i) => testAll.classes[i]),
    },
    calibration: {
      unknownThreshold: threshold,
      rule: '10th percentile of the best-cosine scores of the known test images',
      knownTestImages: known.n,
      heldOutTestImages: heldOut.n,
      heldOutUnknownRate: unseenBelow,
      maxTrainedLoss: Number(o.maxTrainedLoss),
      maxTrainedLossRule: 'the demo favours recognising the taught part: 3% of the known parts\' reference inputs, not the library\'s 1%, and no margin floor (the library\'s is 0)',
      margin: Number(o.margin),
      command: ['node', 'scripts/make-demo-model.js', '--skip-train', '--data', 'DATA_DIR', '--classes', o.classes, '--max-trained-loss', o.maxTrainedLoss, '--margin', o.margin, '--out', o.out].join(' '),
    },
  };
  await lib.saveNetwork(out, net);
  const training = (net.metadata && net.metadata.training) || {};
  console.log(
    `saved ${out}: test accuracy ${typeof training.testAccuracy === 'number' ? (100 * training.testAccuracy).toFixed(2) : '?'}% ` +
      `on the ${known.n} test images of the ${net.classes.length} known classes, unknown threshold ${threshold} ` +
      `(${(100 * unseenBelow).toFixed(1)}% of held-out images under it)`,
  );
  net.dispose();
}

main().catch((err) => {
  console.error(`make-demo-model: ${err.message}`);
  process.exit(1);
});
