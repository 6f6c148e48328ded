#!/usr/bin/env node
// Runs an exported feature-stage ONNX file with onnxruntime-node: checks it against the PyTorch trunk's features
// (reference.py) and times one image at a time at 32x32, 64x64 and 224x224.
// usage: node scripts/feature-stage/onnx-speed.js /work/notes/fs/cnn-c5 [threads=1]
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const ort = require('onnxruntime-node');

const prefix = process.argv[2];
const threads = Number(process.argv[3] || 1);
const data = process.env.FS_DATA || '/work/notes/fs/data';

/** First n images of a decoded HWC uint8 file as NCHW float32 in [0,1]. */
function nchw(file, n, size) {
  const u8 = fs.readFileSync(file);
  const out = new Float32Array(n * 3 * size * size);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) for (let c = 0; c < 3; c++) out[((i * 3 + c) * size + y) * size + x] = u8[((i * size + y) * size + x) * 3 + c] / 255;
  return out;
}

(async () => {
  const file = `${prefix}.onnx`;
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' });
  console.log(
    `${path.basename(file)}: ${(fs.statSync(file).size / 1e6).toFixed(2)} MB, input ${session.inputNames}, output ${session.outputNames}, ${threads} thread(s)`,
  );
  for (const size of [32, 64]) {
    const ref = new Float32Array(fs.readFileSync(`${prefix}.ref${size}.f32`).buffer.slice(0));
    const x = nchw(path.join(data, `fruits-${size}-test.u8`), 16, size);
    const out = (await session.run({ image: new ort.Tensor('float32', x, [16, 3, size, size]) })).features.data;
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < ref.length; i++) {
      worst = Math.max(worst, Math.abs(out[i] - ref[i]));
      scale = Math.max(scale, Math.abs(ref[i]));
    }
    console.log(`  ${size}x${size}: ONNX vs PyTorch on 16 Fruits-360 test images, max |diff| ${worst.toExponential(2)} (largest value ${scale.toFixed(3)})`);
  }
  for (const [size, runs] of [
    [32, 400],
    [64, 200],
    [224, 30],
  ]) {
    const feed = {
      image: new ort.Tensor(
        'float32',
        new Float32Array(3 * size * size).map(() => Math.random()),
        [1, 3, size, size],
      ),
    };
    for (let i = 0; i < Math.max(5, runs / 10); i++) await session.run(feed);
    const times = [];
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      await session.run(feed);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    console.log(`  batch 1 ${size}x${size}: median ${times[runs >> 1].toFixed(3)} ms, min ${times[0].toFixed(3)} ms (${runs} runs)`);
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
