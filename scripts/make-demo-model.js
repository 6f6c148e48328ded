#!/usr/bin/env node
// Makes the demo's bundled model (demo/model) in steps:
//
//   1. `hff train` on Fruits-360 photos (Horea Muresan and Mihai Oltean, MIT licence: demo/LICENSE-fruits360),
//      32x32 colour, on the 20 classes 0-19 (Apple_Braeburn ... Grape_White); classes 20-39 (Pineapple among them)
//      stay "never seen":
//        npx hff train --dataset folder --data ../shared/data/fruits360 --width 32 --height 32 --classes 0-19 --layers 256,256 --epochs 30 --seed 1 --out demo/model --force
//      Training keeps the trained-input reference (512 training photos) that a taught fruit must be nearer than, so
//      a taught class can win among all classes.
//   2. the unknown threshold: the best-cosine scores of the known classes' test photos and of the held-out classes'
//      are measured and a threshold between them (the 10th percentile of the known scores, so 90% of known fruit stay
//      known) is stored in the model (config.unknownThreshold, metadata.calibration), so the demo flags the
//      unseen fruit as unknown.
//
//   node scripts/make-demo-model.js --data ../shared/data/fruits360 [--out demo/model] [--layers 256,256]
//     [--epochs 30] [--seed 1] [--classes 0-19] [--backend NAME] [--skip-train] [--max-trained-loss X] [--margin X]
//
// --skip-train only recalibrates an existing model. --max-trained-loss and --margin override the library's teaching
// settings in the model (the demo uses the defaults).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const lib = require(path.join(root, 'dist', 'src'));
const { subsetByClasses } = require(path.join(root, 'dist', 'src', 'datasets', 'subset'));
const { parseClassList } = require(path.join(root, 'dist', 'src', 'cli', 'train'));

/** The size the model sees: camera frames are brought to it by hff-image, training photos by the folder reader. */
const WIDTH = 32;
const HEIGHT = 32;

function parseArgs(argv) {
  const o = {
    data: undefined,
    out: 'demo/model',
    layers: '256,256',
    epochs: '30',
    seed: '1',
    classes: '0-19',
    maxTrainedLoss: undefined,
    margin: undefined,
    backend: undefined,
    skipTrain: false,
  };
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
  if (!o.data) throw new Error('--data DIR (the Fruits-360 folder with train/ and test/) is required');
  return o;
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const out = path.resolve(o.out);
  if (!o.skipTrain) {
    const args = [
      'train',
      '--dataset',
      'folder',
      '--data',
      o.data,
      '--width',
      String(WIDTH),
      '--height',
      String(HEIGHT),
      '--classes',
      o.classes,
      '--layers',
      o.layers,
      '--epochs',
      o.epochs,
      '--seed',
      o.seed,
      '--out',
      o.out,
      '--force',
    ];
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
  if (net.trainedReferenceSize === 0) throw new Error(`${out} keeps no trained-input reference: train it again with this script or hff train`);
  const testAll = await lib.loadDataset({ name: 'folder', dir: o.data, split: 'test', width: WIDTH, height: HEIGHT, channels: 3 });
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
  if (o.maxTrainedLoss !== undefined) net.config.teaching.maxTrainedLoss = Number(o.maxTrainedLoss);
  if (o.margin !== undefined) net.config.teaching.margin = Number(o.margin);
  // The data folder as it was given (relative to the checkout), not this machine's absolute path.
  const trainingMeta = net.metadata && net.metadata.training;
  if (trainingMeta && typeof trainingMeta.data === 'string') trainingMeta.data = path.relative(root, trainingMeta.data) || '.';
  const calibrationCommand = ['node', 'scripts/make-demo-model.js', '--skip-train', '--data', 'DATA_DIR', '--classes', o.classes];
  if (o.maxTrainedLoss !== undefined) calibrationCommand.push('--max-trained-loss', o.maxTrainedLoss);
  if (o.margin !== undefined) calibrationCommand.push('--margin', o.margin);
  net.metadata = {
    ...net.metadata,
    dataset: {
      name: 'Fruits-360 (subset of 40 classes)',
      licence: 'MIT (c) 2017 Mihai Oltean, Horea Muresan, https://github.com/Horea94/Fruit-Images-Dataset',
      heldOut: heldOutClasses.map((i) => testAll.classes[i]),
    },
    calibration: {
      unknownThreshold: threshold,
      rule: '10th percentile of the best-cosine scores of the known test images',
      knownTestImages: known.n,
      heldOutTestImages: heldOut.n,
      heldOutUnknownRate: unseenBelow,
      maxTrainedLoss: net.config.teaching.maxTrainedLoss,
      margin: net.config.teaching.margin,
      command: [...calibrationCommand, '--out', o.out].join(' '),
    },
  };
  await lib.saveNetwork(out, net);
  const training = (net.metadata && net.metadata.training) || {};
  console.log(
    `saved ${out}: test accuracy ${typeof training.testAccuracy === 'number' ? (100 * training.testAccuracy).toFixed(2) : '?'}% ` +
      `on the ${known.n} test images of the ${net.classes.length} known classes, unknown threshold ${threshold} ` +
      `(${(100 * unseenBelow).toFixed(1)}% of held-out images under it), ${net.trainedReferenceSize} kept training inputs`,
  );
  net.dispose();
}

main().catch((err) => {
  console.error(`make-demo-model: ${err.message}`);
  process.exit(1);
});
