import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createEngine } from '../../src/engines/backend';
import { HffNetwork, saveNetwork } from '../../src/hff';
import { tempDir } from '../helpers/data';
import { lastJson, runHff } from './fixtures';

describe('hff export', function () {
  this.timeout(120000);
  let modelDir: string;

  before(async function () {
    const engine = await createEngine('wasm');
    const net = HffNetwork.create(engine, { inputSize: 16, layers: [12, 8] }, ['bolt', 'nut']);
    modelDir = path.join(tempDir(), 'model');
    await saveNetwork(modelDir, net);
    net.dispose();
  });

  it('writes an ONNX file and reports its inputs, outputs and classes', async function () {
    const out = path.join(tempDir(), 'm.onnx');
    const r = await runHff(['export', '--model', modelDir, '--onnx', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const summary = lastJson<{ path: string; classes: string[]; outputs: string[]; opset: number }>(r);
    assert.equal(summary.path, out);
    assert.deepEqual(summary.classes, ['bolt', 'nut']);
    assert.deepEqual(summary.outputs.slice(0, 2), ['scores', 'label']);
    assert.equal(summary.opset, 13);
    assert.ok(fs.statSync(out).size > 16 * 12 * 4);
  });

  it('fails with a message naming the missing model, and with usage for missing options', async function () {
    const missing = await runHff(['export', '--model', '/nonexistent/model', '--onnx', path.join(tempDir(), 'x.onnx')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /export failed: .*\/nonexistent\/model/);
    const usage = await runHff(['export', '--model', modelDir]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--onnx/);
  });
});
