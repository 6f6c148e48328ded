#!/usr/bin/env node
/**
 * Exploration script behind the "Choosing the defaults" sections of bench/RESULTS.md (not part of the library):
 * trains an HFF network and prints the test accuracy after every epoch as a JSON line (final-layer `acc` and
 * summed `accSum` scoring, `trainAcc` of the final layer on the augmented / dropped-out training batches).
 * Run from the project root after `npm run build`:
 *
 *   HFF_ONNX_THREADS=1 node bench/epoch-sweep.js cifar10 25 '{"norm":"zscore","flip":1,"shift":2}'
 *
 * Options (JSON): engine (default onnx), layers, tau, margin, lr, wd, batch; constant (1: constant learning rate;
 * default cosine decay per step over the run); norm ('zscore': each image standardised; 'centre': the training
 * set's mean image subtracted; default: pixels in [0, 1]); shift (random shifts of up to N pixels per step,
 * filled with the normalised background value 0) and flip (random left-right mirrors), both this script's own
 * implementation; pin / ph (dropout of the first layer's / the upper layers' inputs). Data from $HFF_DATA or
 * ../shared/data. It drives the layers itself (HffNetwork.trainLayerBatch), so it predates and is independent of
 * the library's training options that these runs led to.
 */
const path = require('node:path');
const P = process.env.HFF_DIST || path.join(__dirname, '..', 'dist', 'src');
const { createEngine } = require(path.join(P, 'engines', 'backend'));
const { HffNetwork } = require(path.join(P, 'hff', 'network'));
const { evaluateNetwork, gatherRows } = require(path.join(P, 'hff', 'training'));
const { SeededRandom } = require(path.join(P, 'hff', 'random'));
const { loadDataset } = require(path.join(P, 'datasets'));

function zscoreRows(d) {
  const s = d.inputSize;
  const out = new Float32Array(d.images.length);
  for (let i = 0; i < d.n; i++) {
    let m = 0;
    for (let j = 0; j < s; j++) m += d.images[i * s + j];
    m /= s;
    let v = 0;
    for (let j = 0; j < s; j++) {
      const t = d.images[i * s + j] - m;
      v += t * t;
    }
    const inv = 1 / Math.sqrt(v / s + 1e-8);
    for (let j = 0; j < s; j++) out[i * s + j] = (d.images[i * s + j] - m) * inv;
  }
  return { ...d, images: out };
}
function centre(d, mean) {
  const s = d.inputSize;
  const out = new Float32Array(d.images.length);
  for (let i = 0; i < d.n * s; i++) out[i] = d.images[i] - mean[i % s];
  return { ...d, images: out };
}
function pixelMean(d) {
  const s = d.inputSize;
  const m = new Float64Array(s);
  for (let i = 0; i < d.n * s; i++) m[i % s] += d.images[i];
  return Float32Array.from(m, (v) => v / d.n);
}

function augment(x, count, shape, shift, flip, rnd, fill) {
  const [h, w, c] = shape;
  const out = new Float32Array(x.length);
  const size = h * w * c;
  for (let i = 0; i < count; i++) {
    const dx = shift ? rnd.int(2 * shift + 1) - shift : 0,
      dy = shift ? rnd.int(2 * shift + 1) - shift : 0;
    const f = flip && rnd.next() < 0.5;
    const o = i * size;
    for (let y = 0; y < h; y++) {
      const sy = y - dy;
      for (let xx = 0; xx < w; xx++) {
        let sx = xx - dx;
        if (f) sx = w - 1 - sx;
        for (let ch = 0; ch < c; ch++)
          out[o + (y * w + xx) * c + ch] = sy < 0 || sy >= h || sx < 0 || sx >= w ? fill[(y * w + xx) * c + ch] : x[o + (sy * w + sx) * c + ch];
      }
    }
  }
  return out;
}
function dropout(x, p, rnd) {
  if (!p) return x;
  const out = new Float32Array(x.length);
  const k = 1 / (1 - p);
  for (let i = 0; i < x.length; i++) out[i] = rnd.next() < p ? 0 : x[i] * k;
  return out;
}

(async () => {
  const [dataset, epochsText, overrides] = process.argv.slice(2);
  if (!dataset || !epochsText) throw new Error('usage: node bench/epoch-sweep.js DATASET EPOCHS [JSON options]');
  const epochs = Number(epochsText);
  const opts = JSON.parse(overrides || '{}');
  const dir = path.join(process.env.HFF_DATA || path.join(__dirname, '..', '..', 'shared', 'data'), dataset === 'cifar10' ? 'cifar10-jpg' : dataset);
  let train = await loadDataset({ name: dataset, dir, split: 'train' });
  let test = await loadDataset({ name: dataset, dir, split: 'test' });
  const shape = dataset === 'cifar10' ? [32, 32, 3] : [28, 28, 1];
  if (opts.norm === 'zscore') {
    train = zscoreRows(train);
    test = zscoreRows(test);
  }
  let fill = new Float32Array(train.inputSize);
  if (opts.norm === 'centre') {
    const m = pixelMean(train);
    train = centre(train, m);
    test = centre(test, m);
  }
  const engine = await createEngine(opts.engine || 'onnx');
  const classes = Array.from({ length: 10 }, (_, i) => String(i));
  const net = HffNetwork.create(
    engine,
    {
      inputSize: train.inputSize,
      layers: opts.layers || [1000, 1000, 1000],
      seed: 1,
      tau: opts.tau,
      margin: opts.margin,
      optimizer: { learningRate: opts.lr || 1e-3, weightDecay: opts.wd || 0 },
    },
    classes,
  );
  const rnd = new SeededRandom(7);
  const bs = opts.batch || 128;
  const batches = Math.ceil(train.n / bs);
  const total = epochs * batches;
  const base = opts.lr || 1e-3;
  const pin = opts.pin || 0,
    ph = opts.ph || 0;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const t0 = Date.now();
    const order = rnd.permutation(train.n);
    let correct = 0;
    for (let b = 0; b < batches; b++) {
      const start = b * bs;
      const count = Math.min(bs, train.n - start);
      let { x, y } = gatherRows(train, order, start, count);
      if (opts.shift || opts.flip) x = augment(x, count, shape, opts.shift || 0, !!opts.flip, rnd, fill);
      const step = (epoch - 1) * batches + b;
      net.config.optimizer.learningRate = opts.constant ? base : (base * (1 + Math.cos((Math.PI * step) / total))) / 2;
      let input = dropout(x, pin, rnd);
      for (let l = 0; l < net.layers.length; l++) {
        const r = net.trainLayerBatch(l, input, count, y);
        if (l === net.layers.length - 1) correct += r.correct;
        input = dropout(r.z, ph, rnd);
      }
    }
    net.config.optimizer.learningRate = base;
    const fin = await evaluateNetwork(net, test, {});
    const sum = await evaluateNetwork(net, test, { scoring: 'sum' });
    console.log(
      JSON.stringify({ dataset, epoch, acc: fin.accuracy, accSum: sum.accuracy, trainAcc: +(correct / train.n).toFixed(4), s: (Date.now() - t0) / 1000, opts }),
    );
  }
  net.dispose();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
