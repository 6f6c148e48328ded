#!/usr/bin/env node
// Decodes the datasets through the product's own reader (dist/src/datasets: same class order, split, resize and
// pixel values as `hff bench-teach`) into raw arrays for the Python scripts: <out>/<name>-<split>.u8 (N x H x W x 3,
// HWC uint8 = round(255 * value)) and <out>/<name>-<split>.labels (int32), plus <name>.json with shapes and classes.
// Usage: node scripts/feature-stage/decode.js OUT_DIR   (after `npm run build`)
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { loadDataset } = require('../../dist/src/datasets');

const data = process.env.HFF_DATA || path.join(__dirname, '../../../shared/data');
const out = process.argv[2];
if (!out) throw new Error('usage: decode.js OUT_DIR');
const jobs = [
  { tag: 'cifar10-32', name: 'cifar10', dir: path.join(data, 'cifar10-jpg'), size: 32 },
  { tag: 'fruits-32', name: 'folder', dir: path.join(data, 'fruits360'), size: 32 },
  { tag: 'fruits-64', name: 'folder', dir: path.join(data, 'fruits360'), size: 64 },
];

(async () => {
  fs.mkdirSync(out, { recursive: true });
  for (const job of jobs) {
    const meta = {};
    for (const split of ['train', 'test']) {
      const d = await loadDataset({ name: job.name, dir: job.dir, split, width: job.size, height: job.size, channels: 3 });
      const bytes = new Uint8Array(d.images.length);
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.round(Math.min(1, Math.max(0, d.images[i])) * 255);
      fs.writeFileSync(path.join(out, `${job.tag}-${split}.u8`), bytes);
      fs.writeFileSync(path.join(out, `${job.tag}-${split}.labels`), Buffer.from(d.labels.buffer));
      meta[split] = { n: d.n, height: d.height, width: d.width, channels: d.channels };
      meta.classes = d.classes;
      console.log(job.tag, split, d.n, `${d.width}x${d.height}x${d.channels}`);
    }
    fs.writeFileSync(path.join(out, `${job.tag}.json`), JSON.stringify(meta, null, 1));
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
