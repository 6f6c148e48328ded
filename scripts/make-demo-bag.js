#!/usr/bin/env node
// Builds the demo's bundled camera recording (demo/camera.mcap) from Fashion-MNIST test images (MIT licence,
// Zalando): 28x28 mono8 sensor_msgs/msg/Image frames on /camera/image_raw at 10 frames per second, with the
// ground truth of each frame as std_msgs/msg/String JSON on /demo/truth (same log time), in four segments:
//
//   known   80 frames  parts the model was trained on (classes 0-7)
//   unseen  40 frames  a part it has never seen (Bag)
//   known   40 frames  trained parts again
//   dim     80 frames  trained parts under a lighting change: darker, lower contrast and sensor noise
//
//   node scripts/make-demo-bag.js --data /path/to/fashion-mnist [--out demo/camera.mcap] [--model demo/model]
//
// With --model, the unseen segment uses Bag images the model scores under its unknown threshold (on the whole
// test split only part of the Bag images fall under it; see README), and the script prints per-segment scores.
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const root = path.resolve(__dirname, '..');
const lib = require(path.join(root, 'dist', 'src'));
const io = require(path.join(root, 'dist', 'src', 'io'));

const SEGMENTS = [
  { name: 'known', frames: 80 },
  { name: 'unseen', frames: 40 },
  { name: 'known', frames: 40 },
  { name: 'dim', frames: 80 },
];
const UNSEEN_CLASS = 8; // Bag
const KNOWN_CLASSES = 8; // 0..7
const FPS = 10;
const START_NS = 1_700_000_000_000_000_000n;

function parseArgs(argv) {
  const o = { data: undefined, out: path.join(root, 'demo', 'camera.mcap'), model: undefined, seed: 7 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--data') o.data = v();
    else if (a === '--out') o.out = path.resolve(v());
    else if (a === '--model') o.model = path.resolve(v());
    else if (a === '--seed') o.seed = Number(v());
    else throw new Error(`unknown option ${a}`);
  }
  if (!o.data) throw new Error('--data DIR (the folder with the Fashion-MNIST IDX files) is required');
  return o;
}

/** The lighting change: 45% brightness, contrast pulled towards grey, Gaussian sensor noise, clipped. */
function dim(pixels, random) {
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const v = 0.45 * pixels[i] + 0.12 + 0.1 * random.gaussian();
    out[i] = Math.min(1, Math.max(0, v));
  }
  return out;
}

function toMono8(pixels) {
  const bytes = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) bytes[i] = Math.round(Math.min(1, Math.max(0, pixels[i])) * 255);
  return bytes;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const test = await lib.loadDataset({ name: 'fashion-mnist', dir: o.data, split: 'test' });
  const random = new lib.SeededRandom(o.seed);
  const size = test.inputSize;
  const image = (i) => test.images.subarray(i * size, (i + 1) * size);

  let net;
  if (o.model) net = await lib.loadNetwork(o.model, await lib.createEngine());
  const predict = (pixels) => net.predict(Float32Array.from(toMono8(pixels), (b) => b / 255), 1)[0];

  // Test images in a seeded order, split into the pools each segment draws from without repeats.
  const order = Array.from(random.permutation(test.n));
  const known = order.filter((i) => test.labels[i] < KNOWN_CLASSES);
  let unseen = order.filter((i) => test.labels[i] === UNSEEN_CLASS);
  if (net) unseen = unseen.filter((i) => !predict(image(i)).known);
  let k = 0;
  let u = 0;

  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  const writer = await io.BagWriter.open(o.out, { overwrite: true, library: 'node-red-contrib-hff make-demo-bag' });
  let frame = 0;
  const stats = [];
  for (const segment of SEGMENTS) {
    const s = { segment: segment.name, frames: segment.frames, known: 0, correct: 0, score: 0 };
    for (let f = 0; f < segment.frames; f++) {
      const index = segment.name === 'unseen' ? unseen[u++] : known[k++];
      if (index === undefined) throw new Error(`not enough images for segment ${segment.name}`);
      const label = test.classes[test.labels[index]];
      const pixels = segment.name === 'dim' ? dim(image(index), random) : image(index);
      const t = START_NS + BigInt(frame) * BigInt(1e9 / FPS);
      const stamp = { sec: Number(t / 1_000_000_000n), nanosec: Number(t % 1_000_000_000n) };
      // The truth first: at equal log times replay keeps file order, so a flow has it before the frame.
      await writer.write('/demo/truth', 'std_msgs/msg/String', { data: JSON.stringify({ frame, segment: segment.name, label }) }, { logTime: t });
      await writer.write(
        '/camera/image_raw',
        'sensor_msgs/msg/Image',
        { header: { stamp, frame_id: 'camera' }, height: 28, width: 28, encoding: 'mono8', is_bigendian: 0, step: 28, data: toMono8(pixels) },
        { logTime: t },
      );
      if (net) {
        const p = predict(pixels);
        s.known += p.known ? 1 : 0;
        s.correct += p.label === label ? 1 : 0;
        s.score += p.score / segment.frames;
      }
      frame++;
    }
    stats.push(s);
  }
  await writer.close();
  console.log(`wrote ${o.out}: ${frame} frames (${SEGMENTS.map((s) => `${s.name} ${s.frames}`).join(', ')}), ${fs.statSync(o.out).size} bytes`);
  if (net) {
    for (const s of stats) {
      console.log(`  ${s.segment.padEnd(7)} mean score ${s.score.toFixed(3)}, known ${s.known}/${s.frames}, correct ${s.correct}/${s.frames}`);
    }
    net.dispose();
  }
}

main().catch((err) => {
  console.error(`make-demo-bag: ${err.stack || err.message}`);
  process.exit(1);
});
