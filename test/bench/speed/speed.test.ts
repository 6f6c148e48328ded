/** Smoke test of the speed benchmark (bench/SPEED.md) on a tiny network, without PyTorch. */
import assert from 'node:assert/strict';
import { formatReport, runSpeed } from '../../../src/bench/speed';
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
});
