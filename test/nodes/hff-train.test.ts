import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModelFiles } from '../../src/model-file';
import { tinyIdx, writeIdxPair } from '../datasets/fixtures';
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
  nth,
  onTab,
  removeTempDirs,
  send,
  statuses,
  vector,
  waitFor,
  waitStatus,
} from './flow-helpers';

interface Result {
  cancelled: boolean;
  source: string;
  n: number;
  epochs: { epoch: number; loss: number; accuracy: number; seconds: number }[];
  augmentation: { shift: number; rotate: number; scale: number } | null;
  evaluation: { on: string; accuracy: number; n: number; perClass: (number | null)[] } | null;
  classes: string[];
  created: string[];
  version: number;
  dir: string;
}

describe('hff-train', function () {
  let userDir: string;
  beforeEach(() => {
    userDir = initNodeRed4();
  });
  afterEach(async () => {
    await helper.unload();
    assertNoUnhandledRejection();
  });
  after(removeTempDirs);

  function flow(train: Record<string, unknown>, model: Record<string, unknown> = {}) {
    return [
      TAB,
      modelConfig(model),
      onTab({
        id: 'train',
        type: 'hff-train',
        model: 'model',
        source: 'dataset',
        dataset: 'mnist',
        dir: '',
        limit: '',
        epochs: 2,
        batchSize: 16,
        evaluate: true,
        bufferLimit: 10000,
        wires: [['result'], ['progress']],
        ...train,
      }),
      onTab({ id: 'teach', type: 'hff-teach', model: 'model', wires: [[]] }),
      helperNode('result'),
      helperNode('progress'),
      ...catchNodes(),
    ];
  }

  /** A 4x4 MNIST-format dataset (16 inputs) with train and test files, in a folder relative to userDir. */
  function tinyMnist(): string {
    const dir = path.join(userDir, 'data', 'mnist');
    fs.mkdirSync(dir, { recursive: true });
    writeIdxPair(dir, 'train', tinyIdx(120, 4, 4, 10), 4, 4, { gzip: true });
    writeIdxPair(dir, 't10k', tinyIdx(30, 4, 4, 10), 4, 4);
    return dir;
  }

  it('trains from a dataset on disk: classes created by name, progress, evaluation on the test split, saved', async () => {
    tinyMnist();
    await helper.load(ALL_NODES, flow({ dir: 'data/mnist' }));
    const result = collect('result');
    const progress = collect('progress');
    send('train', { topic: 'train' });
    const msg = await nth(result, 1, 'final metrics', 30_000);
    assert.equal(msg.topic, 'trained');
    const r = msg.payload as Result;
    assert.equal(r.cancelled, false);
    assert.equal(r.source, 'mnist');
    assert.equal(r.n, 120);
    assert.equal(r.epochs.length, 2);
    assert.equal(r.augmentation, null, 'a model without an image shape trains on its vectors as they are');
    const digits = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
    assert.deepEqual(r.created, digits, 'the classes were created by name');
    assert.deepEqual(r.classes, digits);
    assert.equal(r.evaluation?.on, 'test');
    assert.equal(r.evaluation?.n, 30);
    assert.ok((r.evaluation?.accuracy ?? -1) >= 0);
    assert.ok(progress.length >= 2, 'progress at least at the end of each epoch');
    const p = progress[progress.length - 1];
    assert.equal(p.topic, 'progress');
    assert.deepEqual(Object.keys(p.payload as object).sort(), ['accuracy', 'batch', 'batches', 'elapsedMs', 'epoch', 'epochs', 'etaMs', 'loss']);
    assert.ok(statuses('train').some((s) => s.fill === 'blue' && /^epoch \d\/2 \d+%$/.test(String(s.text))));
    await waitStatus('train', (s) => s.fill === 'green' && /^done, accuracy \d\.\d{3}$/.test(String(s.text)));
    // Saved before the metrics were sent.
    const files = await loadModelFiles(modelDir(userDir));
    assert.deepEqual(files.manifest.classes, digits);
    assert.equal(files.manifest.version, r.version);
  });

  it('shifts, turns and resizes the training images as configured, for a model with an image shape', async () => {
    tinyMnist();
    const train = async (settings: Record<string, unknown>) => {
      await helper.load(ALL_NODES, flow({ dir: 'data/mnist', epochs: 1, evaluate: false, ...settings }, { inputShape: '4x4x1' }));
      const result = collect('result');
      send('train', { topic: 'train' });
      const r = (await nth(result, 1, 'final metrics', 30_000)).payload as Result;
      const weights = (await loadModelFiles(modelDir(userDir))).tensors['layers.0.weight'].data;
      await helper.unload();
      fs.rmSync(modelDir(userDir), { recursive: true, force: true });
      return { r, weights: Array.from(weights) };
    };
    const plain = await train({});
    assert.deepEqual(plain.r.augmentation, { shift: 0, rotate: 0, scale: 0 }, "grey images: the library's default is none");
    const changed = await train({ shift: '1', rotate: '10', scale: '0.1' });
    assert.deepEqual(changed.r.augmentation, { shift: 1, rotate: 10, scale: 0.1 });
    assert.notDeepEqual(changed.weights, plain.weights, 'the changed images were learned from');
  });

  it('trains from buffered labelled messages (sample, clear, train)', async () => {
    await helper.load(ALL_NODES, flow({ source: 'messages', epochs: 3, evaluate: false }));
    const result = collect('result');
    send('train', { topic: 'sample', payload: vector(16, 99), label: 'junk' });
    send('train', { topic: 'clear' });
    for (let i = 0; i < 10; i++) {
      send('train', { topic: 'sample', payload: vector(16, 1 + (i % 2) * 50), label: i % 2 ? 'nut' : 'bolt' });
    }
    // A message with a label and no topic is a sample too; a batch with one label per vector.
    send('train', { payload: [vector(16, 2), vector(16, 52)], label: ['bolt', 'nut'] });
    await waitStatus('train', (s) => s.text === '12 samples buffered');
    send('train', { topic: 'train' });
    const r = (await nth(result, 1, 'final metrics', 30_000)).payload as Result;
    assert.equal(r.source, 'messages');
    assert.equal(r.n, 12);
    assert.deepEqual(r.classes, ['bolt', 'nut']);
    assert.equal(r.epochs.length, 3);
    assert.equal(r.evaluation?.on, 'train');
  });

  it("'cancel' stops a run; what was learned is kept, saved and reported", async () => {
    await helper.load(ALL_NODES, flow({ source: 'messages', epochs: 100000, batchSize: 1 }, { classes: 'a,b' }));
    const result = collect('result');
    const progress = collect('progress');
    const caught = collect('caught');
    for (let i = 0; i < 20; i++) send('train', { topic: 'sample', payload: vector(16, i), label: i % 2 });
    send('train', { topic: 'train' });
    await nth(progress, 1, 'first progress', 30_000);
    send('train', { topic: 'train' });
    assert.match(caughtText(await nth(caught, 1)), /training is already running: send msg.topic 'cancel'/);
    // The model stays usable for teaching meanwhile, but not for forgetting a class.
    send('teach', { topic: 'forget', label: 'a' });
    assert.match(caughtText(await nth(caught, 2)), /cannot forget a class of model tiny while training runs/);
    send('train', { topic: 'cancel' });
    const r = (await nth(result, 1, 'final metrics', 30_000)).payload as Result;
    assert.equal(r.cancelled, true);
    assert.equal(r.evaluation, null);
    await waitStatus('train', (s) => s.fill === 'yellow' && /^cancelled after \d+ epochs$/.test(String(s.text)));
    assert.ok(fs.existsSync(path.join(modelDir(userDir), 'model.json')));
  });

  it('closing the flow cancels training and saves what was learned', async () => {
    await helper.load(ALL_NODES, flow({ source: 'messages', epochs: 100000, batchSize: 1 }, { classes: 'a,b', saveDelay: 60_000 }));
    const progress = collect('progress');
    for (let i = 0; i < 20; i++) send('train', { topic: 'sample', payload: vector(16, i), label: i % 2 ? 'b' : 'a' });
    send('train', { topic: 'train' });
    await nth(progress, 1, 'first progress', 30_000);
    const started = Date.now();
    await helper.unload();
    assert.ok(Date.now() - started < 5000, 'closing does not wait for the 100000 epochs');
    const files = await loadModelFiles(modelDir(userDir));
    assert.ok((files.manifest.version as number) > 0, 'the training steps were saved');
  });

  it('reports a missing dataset, an empty buffer and bad samples to a Catch node', async () => {
    await helper.load(ALL_NODES, [
      ...flow({ dir: 'no/such/folder' }),
      onTab({ id: 'buffered', type: 'hff-train', model: 'model', source: 'messages', epochs: 1, wires: [[], []] }),
      onTab({ id: 'badcfg', type: 'hff-train', model: 'model', source: 'dataset', dataset: 'imagenet', dir: 'x', wires: [[], []] }),
      onTab({ id: 'badturn', type: 'hff-train', model: 'model', source: 'dataset', dataset: 'mnist', dir: 'x', rotate: '270', wires: [[], []] }),
    ]);
    const caught = collect('caught');
    await waitStatus('badcfg', (s) => s.fill === 'red' && s.text === 'bad settings');
    await waitStatus('badturn', (s) => s.fill === 'red' && s.text === 'bad settings');
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['train', { topic: 'train' }, new RegExp(`${path.join(userDir, 'no/such/folder').replace(/[/\\^$*+?.()|[\]{}]/g, '\\$&')}`)],
      ['train', { topic: 'sample', payload: vector(16, 1), label: 'a' }, /this node trains from a dataset/],
      ['buffered', { topic: 'train' }, /no buffered samples/],
      ['buffered', { topic: 'sample', payload: vector(8, 1), label: 'a' }, /expected a vector of length 16, got length 8/],
      ['buffered', { topic: 'sample', payload: vector(16, 1) }, /msg\.label is missing/],
      ['badcfg', { topic: 'train' }, /misconfigured: dataset must be one of mnist, fashion-mnist, cifar10, folder/],
      ['badturn', { topic: 'train' }, /misconfigured: rotate must be a number >= 0 and <= 180, got "270"/],
    ];
    for (const [id, msg, pattern] of cases) {
      const before = caught.length;
      send(id, msg);
      assert.match(caughtText(await nth(caught, before + 1, `error from ${id}`)), pattern);
    }
    await waitStatus('train', (s) => s.fill === 'red' && s.text === 'failed');
    // Still working: samples land in the buffer; one class is not enough to train.
    send('buffered', { topic: 'sample', payload: vector(16, 1), label: 'only' });
    await waitStatus('buffered', (s) => s.text === '1 samples buffered');
    send('buffered', { topic: 'train' });
    assert.match(caughtText(await nth(caught, cases.length + 1)), /training needs at least two classes; the model has only 'only'/);
    await waitFor('no more errors', () => caught.length === cases.length + 1);
  });
});
