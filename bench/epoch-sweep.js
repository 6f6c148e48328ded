#!/usr/bin/env node
/**
 * Exploration script behind the "Choosing the defaults" section of bench/RESULTS.md (not part of the library):
 * trains an HFF network one epoch at a time and prints the test accuracy after each epoch as a JSON line, with
 * final-layer and summed scoring. Run from the project root after `npm run build`:
 *
 *   node bench/epoch-sweep.js mnist 10 '{"tau":0.05}'
 *
 * Options (JSON): engine (default onnx), layers, tau, lr, batch, shift (random shifts of up to N pixels, redrawn
 * every epoch), cosine (1: learning rate lr * (1 + cos(pi * (epoch - 1) / epochs)) / 2 per epoch, set on the
 * network's optimizer settings, which its layers read at every step).
 */
const path = require('node:path');
const P = path.join(__dirname, '..', 'dist', 'src');
const { createEngine } = require(path.join(P, 'engines', 'backend'));
const { HffNetwork } = require(path.join(P, 'hff', 'network'));
const { trainNetwork, evaluateNetwork } = require(path.join(P, 'hff', 'training'));
const { loadDataset } = require(path.join(P, 'datasets'));

/** A copy of a square grey dataset with every image shifted by up to m pixels (seeded). */
function shifted(d, m, seed) {
  let st = (seed * 2654435761) >>> 0;
  const rnd = () => {
    st ^= st << 13; st >>>= 0; st ^= st >>> 17; st ^= st << 5; st >>>= 0;
    return st / 4294967296;
  };
  const side = Math.round(Math.sqrt(d.inputSize));
  const out = new Float32Array(d.images.length);
  for (let i = 0; i < d.n; i++) {
    const dx = Math.floor(rnd() * (2 * m + 1)) - m;
    const dy = Math.floor(rnd() * (2 * m + 1)) - m;
    const o = i * d.inputSize;
    for (let y = 0; y < side; y++) {
      const sy = y - dy;
      if (sy < 0 || sy >= side) continue;
      for (let x = 0; x < side; x++) {
        const sx = x - dx;
        if (sx >= 0 && sx < side) out[o + y * side + x] = d.images[o + sy * side + sx];
      }
    }
  }
  return { ...d, images: out };
}

(async () => {
  const [dataset, epochsText, overrides] = process.argv.slice(2);
  if (!dataset || !epochsText) throw new Error('usage: node bench/epoch-sweep.js DATASET EPOCHS [JSON options]');
  const epochs = Number(epochsText);
  const opts = JSON.parse(overrides || '{}');
  const dir = path.join(process.env.HFF_DATA || path.join(__dirname, '..', '..', 'shared', 'data'), dataset === 'cifar10' ? 'cifar10-jpg' : dataset);
  const train = await loadDataset({ name: dataset, dir, split: 'train' });
  const test = await loadDataset({ name: dataset, dir, split: 'test' });
  const engine = await createEngine(opts.engine || 'onnx');
  const classes = Array.from({ length: 10 }, (_, i) => String(i));
  const net = HffNetwork.create(
    engine,
    { inputSize: train.inputSize, layers: opts.layers || [1000, 1000, 1000], seed: 1, tau: opts.tau, optimizer: opts.lr ? { learningRate: opts.lr } : undefined },
    classes,
  );
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const started = Date.now();
    if (opts.cosine) net.config.optimizer.learningRate = ((opts.lr || 1e-3) * (1 + Math.cos((Math.PI * (epoch - 1)) / epochs))) / 2;
    await trainNetwork(net, opts.shift ? shifted(train, opts.shift, epoch) : train, { epochs: 1, batchSize: opts.batch || 128, seed: epoch });
    const final = await evaluateNetwork(net, test, {});
    const sum = await evaluateNetwork(net, test, { scoring: 'sum' });
    console.log(JSON.stringify({ dataset, epoch, accuracy: final.accuracy, accuracy_sum: sum.accuracy, seconds: (Date.now() - started) / 1000, engine: engine.name, opts }));
  }
  net.dispose();
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
