import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BENCH_METHODS, RESULT_KEYS, resolveBenchOptions, runBench, TIMING_BLOCK, timePerImage } from '../../../src/bench/accuracy';
import { onnxAvailability, selectBackend } from '../../../src/engines/backend';
import { skipForEnvironment } from '../../helpers/skip';
import { tf } from '../../../src/engines/tfjs/tf';
import { tempDir } from '../../helpers/data';

function idx(dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(0x00000800 + dims.length, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

/** A tiny MNIST-format folder: side x side images where class c lights up band c, plus noise. */
function writeTinyMnist(dir: string, side = 12, train = 90, test = 30): void {
  const write = (prefix: string, count: number, seed: number) => {
    let s = seed;
    const rand = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const images = new Uint8Array(count * side * side);
    const labels = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const c = i % 10;
      labels[i] = c;
      for (let p = 0; p < side * side; p++) {
        const row = Math.floor(p / side);
        const band = Math.floor((row * 10) / side) === c || p % side === c;
        images[i * side * side + p] = band ? 200 + Math.floor(rand() * 55) : Math.floor(rand() * 40);
      }
    }
    fs.writeFileSync(path.join(dir, `${prefix}-images-idx3-ubyte`), idx([count, side, side], images));
    fs.writeFileSync(path.join(dir, `${prefix}-labels-idx1-ubyte`), idx([count], labels));
  };
  write('train', train, 1);
  write('t10k', test, 2);
}

describe('hff bench', function () {
  let dir: string;
  before(async function () {
    await selectBackend(process.env.HFF_BACKEND ?? 'wasm');
    dir = tempDir('hff-bench-');
    writeTinyMnist(dir);
  });
  after(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs every method end to end in quick mode and prints one JSON line per method with every key', async function () {
    let out = '';
    let log = '';
    const before = tf().memory().numTensors;
    await runBench({
      dataset: 'mnist',
      data: dir,
      methods: ['hff', 'ff', 'bp'],
      epochs: 3,
      layers: [16, 16],
      quick: true,
      json: true,
      timingReps: { b1: 6, b64: 5 },
      write: (t) => (out += t),
      log: (t) => (log += t),
    });
    assert.equal(tf().memory().numTensors, before, 'the bench left tensors behind');
    const lines = out.trim().split('\n');
    assert.equal(lines.length, 3, out);
    const results = lines.map((l) => JSON.parse(l));
    assert.deepEqual(
      results.map((r) => r.method),
      ['hff', 'ff', 'bp'],
    );
    for (const r of results) {
      for (const key of [...RESULT_KEYS]) assert.ok(key in r, `${r.method}: missing ${key}`);
      assert.equal(r.dataset, 'mnist');
      assert.equal(r.epochs, 1, 'quick mode trains one epoch');
      assert.equal(r.n_train, 90);
      assert.equal(r.n_test, 30);
      assert.deepEqual(r.layers, [16, 16]);
      assert.equal(r.quick, true);
      assert.match(r.backend, /^tfjs-/);
      assert.ok(r.accuracy >= 0 && r.accuracy <= 1);
      for (const k of ['train_s_per_epoch', 'infer_ms_b1', 'infer_ms_b64', 'infer_ms_b1_100', 'infer_ms_b64_100']) {
        assert.ok(typeof r[k] === 'number' && r[k] > 0 && Number.isFinite(r[k]), `${r.method}.${k} = ${r[k]}`);
      }
    }
    const geometry = { shift: 0, rotate: 0, scale: 0 }; // the library's for grey images
    assert.deepEqual(
      results.map((r) => r.settings.augmentation ?? r.settings.regularisation),
      [{ ...geometry, inputDropout: 0, hiddenDropout: 0 }, geometry, geometry],
    );
    assert.match(log, /\| HFF \(single pass\) \| 16-16 \|/);
    assert.match(log, /FF \/ HFF single-image latency/);
  });

  for (const backend of ['wasm', 'onnx']) {
    it(`compares an HFF CNN with the same-size backprop CNN (methods hff,bp; ${backend})`, async function () {
      if (backend === 'onnx') {
        const a = onnxAvailability();
        if (!a.available) skipForEnvironment(this, `onnx engine unavailable (${a.reason})`);
      }
      let out = '';
      let log = '';
      const layers = [
        { kind: 'conv2d' as const, filters: 4, kernel: 3, pool: 2 },
        { kind: 'conv2d' as const, filters: 8, kernel: 3, pool: 2 },
      ];
      const before = tf().memory().numTensors;
      await runBench({
        dataset: 'mnist',
        data: dir,
        methods: ['hff', 'bp'],
        epochs: 1,
        layers,
        quick: true,
        json: true,
        backend,
        timingReps: { b1: 3, b64: 2 },
        write: (t) => (out += t),
        log: (t) => (log += t),
      });
      assert.equal(tf().memory().numTensors, before, 'the bench left tensors behind');
      const results = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        results.map((r) => [r.method, r.backend.replace(/^tfjs-/, '')]),
        [
          ['hff', backend],
          ['bp', backend],
        ],
      );
      for (const r of results) {
        assert.deepEqual(r.layers, layers);
        assert.ok(r.accuracy >= 0 && r.accuracy <= 1 && r.train_s_per_epoch > 0);
      }
      assert.equal(results[1].settings.head, 'linear-softmax on the last pooled maps, flattened');
      assert.match(log, /\| Backprop CNN \| c4k3p2-c8k3p2 \|/);
    });
  }

  it('refuses convolutional layers for vanilla Forward-Forward, naming the methods that take them', function () {
    const layers = [{ kind: 'conv2d' as const, filters: 4, kernel: 3, pool: 2 }, 16];
    assert.throws(
      () => resolveBenchOptions({ dataset: 'mnist', data: dir, methods: ['hff', 'ff', 'bp'], epochs: 1, layers, quick: true, json: true }),
      /vanilla Forward-Forward \(ff\) has dense layers only, not the convolutional blocks of c4k3p2,16; compare convolutional networks with methods hff,bp/,
    );
    assert.deepEqual(resolveBenchOptions({ dataset: 'mnist', data: dir, methods: ['hff', 'bp'], epochs: 1, layers, quick: true, json: true }).layers, layers);
    assert.throws(
      () =>
        resolveBenchOptions({
          dataset: 'mnist',
          data: dir,
          methods: ['hff'],
          epochs: 1,
          layers: [{ kind: 'conv2d', filters: 4, kernel: 2 }] as never,
          quick: true,
          json: true,
        }),
      /layers\[0\]\.kernel must be odd/,
    );
  });

  it('prints a markdown table on stdout without --json', async function () {
    let out = '';
    await runBench({
      dataset: 'mnist',
      data: dir,
      methods: ['bp', 'hff'],
      epochs: 2,
      layers: [8],
      limit: 40,
      quick: false,
      json: false,
      timingReps: { b1: 5, b64: 5 },
      write: (t) => (out += t),
      log: () => undefined,
    });
    assert.match(out, /\| method \| layers \| test accuracy/);
    assert.match(out, /\| Backprop MLP \| 8 \|/);
    assert.match(out, /\| HFF \(single pass\) \| 8 \|/);
    assert.match(out, /mnist: 40 train \/ 8 test images, 2 epoch\(s\)/);
    assert.doesNotMatch(out, /^\{/m);
  });

  it('validates its options', function () {
    const base = { dataset: 'mnist' as const, data: dir, methods: ['hff'], epochs: 1, quick: false, json: false };
    assert.throws(() => resolveBenchOptions({ ...base, methods: ['hff', 'svm'] }), /unknown method "svm"/);
    assert.throws(() => resolveBenchOptions({ ...base, methods: [] }), /at least one/);
    assert.throws(() => resolveBenchOptions({ ...base, dataset: 'imagenet' as never }), /unknown dataset/);
    assert.throws(() => resolveBenchOptions({ ...base, epochs: 0 }), /epochs/);
    assert.throws(() => resolveBenchOptions({ ...base, layers: [10, -1] }), /layers\[1\]/);
    const quick = resolveBenchOptions({ ...base, methods: ['FF', 'bp', 'ff'], quick: true, epochs: 9 });
    assert.deepEqual(quick.methods, ['ff', 'bp']);
    assert.equal(quick.epochs, 1);
    assert.equal(quick.trainLimit, 5000);
    assert.equal(quick.testLimit, 1000);
    assert.deepEqual(BENCH_METHODS, ['hff', 'ff', 'bp']);
  });

  it('times several models in turn and reports milliseconds per image', async function () {
    const images = new Float32Array(10 * 4).fill(0.5);
    const calls: Record<string, number[]> = { fast: [], slow: [] };
    const order: string[] = [];
    const busy = (ms: number) => {
      const end = performance.now() + ms;
      while (performance.now() < end);
    };
    const ms = await timePerImage(
      {
        fast: (_x, b) => (calls.fast.push(b), order.push('f'), busy(1)),
        slow: (_x, b) => (calls.slow.push(b), order.push('s'), busy(8)),
      },
      images,
      10,
      4,
      4,
      26,
      30000,
      2,
      0,
    );
    assert.equal(calls.fast.length, 28, 'two warm-up calls (no minimum warm-up time here) and 26 timed calls');
    assert.equal(TIMING_BLOCK, 20);
    assert.equal(order.join(''), 'ffss' + 'f'.repeat(20) + 's'.repeat(20) + 'f'.repeat(6) + 's'.repeat(6), 'warm-up, then turns of up to 20 calls each');
    assert.ok(calls.fast.every((b) => b === 4));
    assert.ok(ms.slow > ms.fast, JSON.stringify(ms));
    assert.ok(ms.slow >= 8 / 4 && ms.slow < 8, `slow: ${ms.slow} ms per image`);
  });
});
