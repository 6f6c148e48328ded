/** Smoke test of the speed benchmark (bench/SPEED.md) on a tiny network, without PyTorch. */
import assert from 'node:assert/strict';
import { formatReport, parseSpeedArgs, runSpeed } from '../../../src/bench/speed';
import { onnxAvailability } from '../../../src/engines/backend';

describe('speed benchmark', function () {
  it('measures every available engine and formats ratios to PyTorch', async function () {
    const engines = onnxAvailability().available ? ['onnx', 'wasm'] : ['wasm'];
    const report = await runSpeed(
      { engines, rounds: 1, torchThreads: [1], layers: [8, 8], inputSize: 12, classes: 3, batch: 64, json: false, torch: false },
      () => undefined,
    );
    assert.deepEqual(
      report.engines.map((e) => e.name),
      engines.map((e) => (e === 'wasm' ? 'tfjs-wasm' : e)),
    );
    for (const e of report.engines) {
      for (const v of [e.trainMs, e.infer1Ms, e.infer64PerImageMs, e.cpu.trainMs]) assert.ok(v > 0 && Number.isFinite(v));
    }
    // A made-up PyTorch row, to check the ratio table.
    const torch = { ...report.engines[0], name: 'pytorch-test', threads: 1, trainMs: report.engines[0].trainMs * 2 };
    const text = formatReport({ ...report, torch: [torch] });
    assert.match(text, /\| pytorch-test \| 1 \|/);
    assert.match(text, new RegExp(`\\| ${report.engines[0].name} \\| 0\\.50x met \\|`));
  });

  it('reads a convolutional network, its image shape and the other image sizes to predict at', function () {
    const o = parseSpeedArgs(['--layers', 'c32k3p2,c64k3p2,256', '--input-shape', '32x32x3', '--infer-shapes', '64x64x3,224x224', '--batch', '128']);
    assert.deepEqual(o.layers, [{ kind: 'conv2d', filters: 32, kernel: 3, pool: 2 }, { kind: 'conv2d', filters: 64, kernel: 3, pool: 2 }, 256]);
    assert.deepEqual(o.inputShape, [32, 32, 3]);
    assert.deepEqual(o.inferShapes, [
      [64, 64, 3],
      [224, 224, 3],
    ]);
    assert.equal(o.batch, 128);
    const dense = parseSpeedArgs([]);
    assert.deepEqual([dense.layers, dense.inputSize, dense.inputShape, dense.inferShapes, dense.batch], [[1000, 1000, 1000], 784, undefined, undefined, 256]);
    assert.throws(() => parseSpeedArgs(['--input-shape', '32x32x']), /--input-shape takes HxW or HxWxC such as 224x224x3, got 32x32x/);
    assert.throws(() => parseSpeedArgs(['--infer-shapes', '64x64x3,big']), /--infer-shapes takes HxW or HxWxC/);
    assert.throws(() => parseSpeedArgs(['--layers', 'c32k4']), /'c32k4' is not a layer/);
  });

  it("times a convolutional network at its image size and at the other sizes, with issue 20's targets", async function () {
    const engines = onnxAvailability().available ? ['onnx', 'wasm'] : ['wasm'];
    const report = await runSpeed(
      {
        engines,
        rounds: 1,
        torchThreads: [1],
        layers: [{ kind: 'conv2d', filters: 4, kernel: 3, pool: 2 }],
        inputSize: 0,
        inputShape: [8, 8, 3],
        inferShapes: [[12, 16, 3]],
        classes: 3,
        batch: 64,
        json: false,
        torch: false,
      },
      () => undefined,
    );
    assert.equal(report.network, '8x8x3-c4k3p2, 3 classes, training batch 64');
    assert.equal(report.convolutional, true);
    for (const e of report.engines) {
      assert.deepEqual(
        e.shapes.map((s) => s.shape),
        ['12x16x3'],
      );
      for (const v of [e.trainMs, e.infer1Ms, e.shapes[0].ms, e.shapes[0].cpuMs]) assert.ok(v > 0 && Number.isFinite(v));
    }
    const first = report.engines[0];
    const torch = { ...first, name: 'pytorch-test', threads: 1, infer1Ms: first.infer1Ms / 2, shapes: [{ ...first.shapes[0], ms: first.shapes[0].ms * 4 }] };
    const text = formatReport({ ...report, torch: [torch] });
    assert.match(text, /\| batch 64, per image \(ms\) \| batch 1 at 12x16x3 \(ms\) \|/);
    assert.match(text, /targets: training <= 1\.25, batch 1 <= 1 at every size, batch 64 none/);
    assert.match(text, new RegExp(`\\| ${first.name} \\| 1\\.00x met \\| 2\\.00x MISSED \\| 1\\.00x \\| 0\\.25x met \\|`));
  });
});
