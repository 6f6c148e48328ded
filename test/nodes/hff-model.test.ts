import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createEngine } from '../../src/engines/backend';
import { HffNetwork } from '../../src/hff/network';
import { loadModelFiles, saveModelFiles } from '../../src/model-file';
import {
  ALL_NODES,
  assertNoUnhandledRejection,
  TAB,
  catchNodes,
  caughtText,
  collect,
  helper,
  helperNode,
  initNodeRed4,
  modelConfig,
  modelDir,
  newTempDir,
  nth,
  onTab,
  removeTempDirs,
  send,
  vector,
  waitFor,
  waitStatus,
} from './flow-helpers';
import { nodeRedPath } from '../../src/demo/runtime';
import { channelMeansModel } from '../feature-stage/fixtures';
import { shippedStage, shippedStagePath } from '../../src/feature-stage/shipped';

describe('hff-model (config node)', function () {
  let userDir: string;
  beforeEach(() => {
    userDir = initNodeRed4();
  });
  afterEach(async () => {
    await helper.unload();
    assertNoUnhandledRejection();
  });
  after(removeTempDirs);

  function flow(model: Record<string, unknown> = {}) {
    return [
      TAB,
      modelConfig(model),
      onTab({ id: 'teach', type: 'hff-teach', model: 'model', mode: 'mean', wires: [['out']] }),
      onTab({ id: 'classify', type: 'hff-classify', model: 'model', wires: [['out'], ['out']] }),
      helperNode('out'),
      ...catchNodes(),
    ];
  }

  it('creates a new model from the architecture and saves it, debounced, after teaching', async () => {
    await helper.load(ALL_NODES, flow());
    const out = collect('out');
    await waitStatus('classify', (s) => s.text === 'ready, 0 classes');
    const dir = modelDir(userDir);
    assert.equal(fs.existsSync(path.join(dir, 'model.json')), false, 'a model that only exists in memory is not written');
    send('teach', { payload: vector(16, 1), label: 'bolt' });
    await nth(out, 1);
    await waitStatus('classify', (s) => s.text === 'ready, 1 classes');
    await waitFor('the debounced save', () => fs.existsSync(path.join(dir, 'model.json')));
    const files = await loadModelFiles(dir);
    assert.deepEqual(files.manifest.classes, ['bolt']);
    assert.deepEqual((files.manifest.config as { layers: unknown[] }).layers, [
      { kind: 'dense', units: 32 },
      { kind: 'dense', units: 32 },
    ]);
    assert.equal((files.manifest.config as { centerInput: boolean }).centerInput, false, 'off unless the box is ticked');
  });

  it('creates a model that centres its inputs when "centre each input" is ticked', async () => {
    await helper.load(ALL_NODES, flow({ inputSize: 12, inputShape: '2x2x3', centerInput: true }));
    const out = collect('out');
    await waitStatus('classify', (s) => s.text === 'ready, 0 classes');
    send('teach', { payload: vector(12, 1), label: 'bolt' });
    await nth(out, 1);
    const dir = modelDir(userDir);
    await waitFor('the debounced save', () => fs.existsSync(path.join(dir, 'model.json')));
    const files = await loadModelFiles(dir);
    assert.equal((files.manifest.config as { centerInput: boolean }).centerInput, true);
  });

  it('creates a model with convolutional blocks from the readable layer spec, which teaches and classifies images', async () => {
    await helper.load(ALL_NODES, flow({ inputSize: 64, inputShape: '8x8x1', layers: 'c4k3p2, c6k3, 8' }));
    const out = collect('out');
    await waitStatus('classify', (s) => s.text === 'ready, 0 classes');
    send('teach', { payload: vector(64, 1), label: 'bolt' });
    send('teach', { payload: vector(64, 2), label: 'nut' });
    await nth(out, 2);
    send('classify', { payload: vector(64, 2) });
    const decision = await nth(out, 3);
    assert.equal((decision.payload as { label: string }).label, 'nut');
    const dir = modelDir(userDir);
    await waitFor('the debounced save', () => fs.existsSync(path.join(dir, 'model.json')));
    const files = await loadModelFiles(dir);
    assert.deepEqual((files.manifest.config as { layers: unknown[] }).layers, [
      { kind: 'conv2d', filters: 4, kernel: 3, pool: 2 },
      { kind: 'conv2d', filters: 6, kernel: 3, pool: 1 },
      { kind: 'dense', units: 8 },
    ]);
  });

  it('loads the model saved in its folder (architecture fields ignored, with a warning)', async () => {
    const dir = modelDir(userDir, 'saved');
    const engine = await createEngine('auto');
    const net = HffNetwork.create(engine, { inputSize: 16, layers: [8] }, ['nut', 'washer']);
    await saveModelFiles(dir, net.toModelFiles());
    net.dispose();
    await helper.load(ALL_NODES, flow({ name: 'saved' }));
    await waitStatus('classify', (s) => s.text === 'ready, 2 classes');
    const out = collect('out');
    send('classify', { payload: vector(16, 3) });
    const msg = await nth(out, 1);
    assert.ok(['nut', 'washer'].includes((msg.payload as { label: string }).label));
    const model = helper.getNode('model') as unknown as { warn: { getCalls(): { thisValue: unknown; args: unknown[] }[] } };
    const warnings = model.warn
      .getCalls()
      .filter((c) => c.thisValue === model)
      .map((c) => String(c.args[0]));
    assert.ok(
      warnings.some((w) => /architecture in the dialog .* is ignored/.test(w)),
      warnings.join('\n'),
    );
  });

  it('a bad model file turns clients red and errors name the file', async () => {
    const dir = newTempDir();
    fs.writeFileSync(path.join(dir, 'model.json'), '{ not json');
    await helper.load(ALL_NODES, flow({ path: dir }));
    await waitStatus('classify', (s) => s.fill === 'red' && s.text === 'model error');
    const caught = collect('caught');
    send('classify', { payload: vector(16, 1) });
    const err = caughtText(await nth(caught, 1, 'caught error'));
    assert.match(err, /^model tiny is not ready: /);
    assert.ok(err.includes(path.join(dir, 'model.json')), err);
    // The node keeps working: a second message fails the same way, nothing crashed.
    send('classify', { payload: vector(16, 2) });
    await nth(caught, 2, 'second caught error');
  });

  it("with 'load an existing model file' a missing model is an error naming the folder", async () => {
    const dir = path.join(newTempDir(), 'nothing-here');
    await helper.load(ALL_NODES, flow({ source: 'file', path: dir }));
    const caught = collect('caught');
    send('classify', { payload: vector(16, 1) });
    assert.match(caughtText(await nth(caught, 1)), new RegExp(`no model file in ${dir.replace(/[/\\^$*+?.()|[\]{}]/g, '\\$&')}`));
  });

  /** Teaches a red and a blue part (flat colours, `size` values), checks a reddish input is the red part, and waits for the save; the model's folder. */
  async function teachRedAndBlueThenClassify(size: number): Promise<string> {
    const out = collect('out');
    await waitStatus('classify', (s) => s.text === 'ready, 0 classes');
    const plain = (rgb: number[]) => Array.from({ length: size }, (_, i) => rgb[i % 3]);
    send('teach', { payload: plain([0.9, 0.1, 0.1]), label: 'red part' });
    send('teach', { payload: plain([0.1, 0.1, 0.9]), label: 'blue part' });
    await nth(out, 2);
    send('classify', { payload: plain([0.8, 0.2, 0.15]) });
    assert.equal(((await nth(out, 3)).payload as { label: string }).label, 'red part');
    const dir = modelDir(userDir);
    await waitFor('the debounced save', () => fs.existsSync(path.join(dir, 'model.json')));
    return dir;
  }

  it('creates a model with a feature stage (an ONNX file in the user folder) that teaches and classifies images, and saves its checksum', async () => {
    fs.writeFileSync(path.join(userDir, 'means.onnx'), channelMeansModel());
    await helper.load(ALL_NODES, flow({ inputSize: 48, inputShape: '4x4x3', featureStage: 'means.onnx', featureMean: '0.5', featureStd: '0.5', layers: '8' }));
    const dir = await teachRedAndBlueThenClassify(48);
    const stage = (await loadModelFiles(dir)).manifest.config as { featureStage: { file: string; sha256: string; outputSize: number; mean: number[] } };
    assert.equal(stage.featureStage.file, path.join(userDir, 'means.onnx'));
    assert.match(stage.featureStage.sha256, /^[0-9a-f]{64}$/);
    assert.equal(stage.featureStage.outputSize, 3);
    assert.deepEqual(stage.featureStage.mean, [0.5, 0.5, 0.5]);
  });

  it('a feature stage file that is missing is an error a Catch node gets, naming the file', async () => {
    await helper.load(ALL_NODES, flow({ inputSize: 48, inputShape: '4x4x3', featureStage: 'nowhere.onnx', layers: '8' }));
    await waitStatus('classify', (s) => s.fill === 'red');
    const caught = collect('caught');
    send('teach', { payload: vector(48, 1), label: 'x' });
    assert.match(caughtText(await nth(caught, 1)), /feature stage ONNX file not found: looked for .*nowhere\.onnx/);
  });

  it('creates a model on the shipped feature stage chosen by name (its image shape when the dialog gives none)', async () => {
    await helper.load(ALL_NODES, flow({ inputSize: 3072, featureStage: 'cifar10-conv', featureLayout: 'nchw', layers: '8' }));
    const dir = await teachRedAndBlueThenClassify(3072);
    const config = (await loadModelFiles(dir)).manifest.config as { inputShape: number[]; featureStage: { file: string; sha256: string; outputSize: number } };
    const shipped = shippedStage('cifar10-conv');
    assert.equal(config.featureStage.file, shippedStagePath(shipped));
    assert.equal(config.featureStage.sha256, shipped.sha256);
    assert.equal(config.featureStage.outputSize, shipped.outputSize);
    assert.deepEqual(config.inputShape, [32, 32, 3]);
  });

  it('an unknown feature stage name is an error a Catch node gets, listing the shipped stages', async () => {
    await helper.load(ALL_NODES, flow({ inputSize: 3072, featureStage: 'imagenet', layers: '8' }));
    await waitStatus('classify', (s) => s.fill === 'red');
    const caught = collect('caught');
    send('teach', { payload: vector(3072, 1), label: 'x' });
    assert.match(caughtText(await nth(caught, 1)), /unknown feature stage name "imagenet": the shipped stages are cifar10-conv/);
  });

  it('a bad architecture is reported when the model has to be created', async () => {
    await helper.load(ALL_NODES, flow({ layers: '32,abc' }));
    await waitStatus('classify', (s) => s.fill === 'red');
    const caught = collect('caught');
    send('teach', { payload: vector(16, 1), label: 'x' });
    assert.match(caughtText(await nth(caught, 1)), /layers "32,abc": 'abc' is not a layer: expected dense widths and convolutional blocks/);
  });

  it('a client whose model is missing says so in its status and its errors', async () => {
    await helper.load(ALL_NODES, [TAB, onTab({ id: 'classify', type: 'hff-classify', model: 'gone', wires: [[], []] }), ...catchNodes()]);
    await waitStatus('classify', (s) => s.fill === 'red' && s.text === 'no model selected');
    const caught = collect('caught');
    send('classify', { payload: vector(16, 1) });
    assert.match(caughtText(await nth(caught, 1)), /no hff-model is selected/);
  });

  it('close writes a pending save at once (nothing learned is lost on redeploy or shutdown)', async () => {
    await helper.load(ALL_NODES, flow({ saveDelay: 60_000 }));
    const out = collect('out');
    send('teach', { payload: [vector(16, 1), vector(16, 2)], label: 'gear' });
    await nth(out, 1);
    const dir = modelDir(userDir);
    assert.equal(fs.existsSync(path.join(dir, 'model.json')), false, 'not yet saved: the delay is a minute');
    await helper.unload();
    const files = await loadModelFiles(dir);
    assert.deepEqual(files.manifest.classes, ['gear']);
    assert.deepEqual(files.manifest.counts, [2]);
    // A restart loads what was taught.
    initNodeRed4Again(userDir);
    await helper.load(ALL_NODES, flow({ saveDelay: 60_000 }));
    await waitStatus('classify', (s) => s.text === 'ready, 1 classes');
  });

  it('close frees every tensor of the network', async () => {
    // For the tfjs engines liveTensors() is tf.memory().numTensors.
    const engine = await createEngine('auto');
    const start = engine.liveTensors();
    await helper.load(ALL_NODES, flow());
    await waitStatus('classify', (s) => s.text === 'ready, 0 classes');
    assert.ok(engine.liveTensors() > start, 'the model holds its weights as tensors');
    await helper.unload();
    assert.equal(engine.liveTensors(), start);
  });
});

/** Re-initialises the helper on the same userDir (a Node-RED restart). */
function initNodeRed4Again(userDir: string): void {
  helper.init(nodeRedPath());
  helper.settings({ userDir });
}
