import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createEngine } from '../../src/engines/backend';
import { HffNetwork } from '../../src/hff/network';
import { saveModelFiles } from '../../src/model-file';
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
  vector,
  waitFor,
  waitStatus,
} from './flow-helpers';

interface Hff {
  layer: number;
  layers: number;
  fromLayer: number;
  batch: number;
  scores: { label: string; index: number; score: number }[] | { label: string; score: number }[][];
  classScores: Float32Array[];
  trained?: { loss: number; correct: number };
}

function norm(v: Float32Array): number {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

describe('hff-layer', function () {
  let userDir: string;
  beforeEach(() => {
    userDir = initNodeRed4();
  });
  afterEach(async () => {
    await helper.unload();
    assertNoUnhandledRejection();
  });
  after(removeTempDirs);

  /** inject -> layer 0 -> layer 1 -> classify, plus a direct classify for comparison. */
  function flow(opts: { learn?: boolean; scoring?: string; classes?: string; architecture?: Record<string, unknown> } = {}) {
    return [
      TAB,
      modelConfig({ classes: opts.classes ?? 'a,b', ...opts.architecture }),
      onTab({ id: 'l0', type: 'hff-layer', model: 'model', layer: 0, learn: opts.learn ?? false, wires: [['l1', 'after0']] }),
      onTab({ id: 'l1', type: 'hff-layer', model: 'model', layer: 1, learn: opts.learn ?? false, wires: [['chain', 'after1']] }),
      onTab({ id: 'chain', type: 'hff-classify', model: 'model', scoring: opts.scoring ?? '', wires: [['chainOut'], ['chainOut']] }),
      onTab({ id: 'direct', type: 'hff-classify', model: 'model', scoring: opts.scoring ?? '', wires: [['directOut'], ['directOut']] }),
      helperNode('after0'),
      helperNode('after1'),
      helperNode('chainOut'),
      helperNode('directOut'),
      ...catchNodes(),
    ];
  }

  it('a chain of layers is the network: unit vectors, per-layer scores, and the same decision as one pass', async () => {
    await helper.load(ALL_NODES, flow());
    const after0 = collect('after0');
    const after1 = collect('after1');
    const chainOut = collect('chainOut');
    const directOut = collect('directOut');
    await waitStatus('l1', (s) => s.text === 'layer L1 ready, 2 classes');
    send('l0', { payload: vector(16, 5) });
    send('direct', { payload: vector(16, 5) });
    const m0 = await nth(after0, 1);
    const z0 = m0.payload as Float32Array;
    assert.ok(z0 instanceof Float32Array);
    assert.equal(z0.length, 32);
    assert.ok(Math.abs(norm(z0) - 1) < 1e-4, 'unit length');
    const h0 = m0.hff as Hff;
    assert.deepEqual([h0.layer, h0.layers, h0.fromLayer, h0.batch], [0, 2, 0, 1]);
    assert.deepEqual(
      (h0.scores as { label: string }[]).map((s) => s.label),
      ['a', 'b'],
    );
    const h1 = (await nth(after1, 1)).hff as Hff;
    assert.equal(h1.layer, 1);
    assert.equal(h1.classScores.length, 2, 'scores of both layers travel to hff-classify');
    const chained = (await nth(chainOut, 1)).payload as { label: string; score: number };
    const direct = (await nth(directOut, 1)).payload as { label: string; score: number };
    assert.equal(chained.label, direct.label);
    assert.ok(Math.abs(chained.score - direct.score) < 1e-5);
    await waitStatus('l0', (s) => s.text === 'L0 → 32');
  });

  it('a chain through a conv2d block passes its pooled maps (unit rows) up and decides as one pass', async () => {
    await helper.load(ALL_NODES, flow({ scoring: 'sum', architecture: { inputSize: 16, inputShape: '4x4x1', layers: 'c4k3p2,8' } }));
    const after0 = collect('after0');
    const chainOut = collect('chainOut');
    const directOut = collect('directOut');
    send('l0', { payload: [vector(16, 1), vector(16, 2)] });
    send('direct', { payload: [vector(16, 1), vector(16, 2)] });
    const maps = (await nth(after0, 1)).payload as Float32Array[];
    assert.deepEqual(
      maps.map((m) => m.length),
      [16, 16],
      '2x2 pooled maps of 4 filters',
    );
    maps.forEach((m) => assert.ok(Math.abs(norm(m) - 1) < 1e-4, 'unit length'));
    const chained = (await nth(chainOut, 1)).payload as { label: string; score: number }[];
    const direct = (await nth(directOut, 1)).payload as { label: string; score: number }[];
    chained.forEach((c, i) => {
      assert.equal(c.label, direct[i].label);
      assert.ok(Math.abs(c.score - direct[i].score) < 1e-5);
    });
  });

  it("'sum' scoring at the end of a full chain matches the one-pass decision", async () => {
    await helper.load(ALL_NODES, flow({ scoring: 'sum' }));
    const chainOut = collect('chainOut');
    const directOut = collect('directOut');
    send('l0', { payload: [vector(16, 1), vector(16, 2)] });
    send('direct', { payload: [vector(16, 1), vector(16, 2)] });
    const chained = (await nth(chainOut, 1)).payload as { label: string; score: number }[];
    const direct = (await nth(directOut, 1)).payload as { label: string; score: number }[];
    assert.equal(chained.length, 2);
    chained.forEach((c, i) => {
      assert.equal(c.label, direct[i].label);
      assert.ok(Math.abs(c.score - direct[i].score) < 1e-5);
    });
  });

  it('a chain ranks taught classes as one pass does when the model ranks them on its random branch', async function () {
    // A model with two trained and three taught classes, set to rank taught classes on the fixed random branch.
    const engine = await createEngine('wasm');
    const net = HffNetwork.create(engine, { inputSize: 16, layers: [32, 32], seed: 1, optimizer: { learningRate: 0.01 } }, ['a', 'b']);
    const rows = (seeds: number[]) => Float32Array.from(seeds.flatMap((seed) => vector(16, seed)));
    for (let i = 0; i < 20; i++) net.trainBatch(rows([1, 2, 3, 4]), 4, Int32Array.from([0, 1, 0, 1]));
    net.teach('c', rows([31, 32, 33]), 3);
    net.teach('d', rows([41, 42, 43]), 3);
    net.teach('e', rows([51, 52, 53]), 3);
    const files = net.toModelFiles();
    (files.manifest.taught as { selection: unknown }).selection = { kind: 'transfer' };
    await saveModelFiles(modelDir(userDir), files);
    net.dispose();
    // Precondition: on these inputs the random branch changes some decisions, so a chain that dropped it would differ.
    const reference = HffNetwork.fromModelFiles(engine, files);
    const inputs = Array.from({ length: 24 }, (_, i) => vector(16, 60 + i));
    const x = rows(inputs.map((_, i) => 60 + i));
    const withBranch = reference.predict(x, inputs.length).map((p) => p.label);
    const outputs = reference.forward(x, inputs.length).map((o) => ({ z: o.z, classScores: o.classScores }));
    const withoutBranch = reference.decide(outputs, inputs.length).map((p) => p.label);
    reference.dispose();
    assert.notDeepEqual(withBranch, withoutBranch, 'the random branch decides some of these inputs');

    await helper.load(ALL_NODES, flow());
    const chainOut = collect('chainOut');
    const directOut = collect('directOut');
    await waitStatus('l1', (s) => s.text === 'layer L1 ready, 5 classes');
    send('l0', { payload: inputs });
    send('direct', { payload: inputs });
    const chained = (await nth(chainOut, 1)).payload as { label: string; score: number }[];
    const direct = (await nth(directOut, 1)).payload as { label: string; score: number }[];
    assert.deepEqual(
      chained.map((c) => c.label),
      direct.map((d) => d.label),
    );
    assert.deepEqual(
      direct.map((d) => d.label),
      withBranch,
    );
  });

  it('with Learn and msg.label each layer takes one local training step, and the model saves', async () => {
    await helper.load(ALL_NODES, flow({ learn: true }));
    const after1 = collect('after1');
    for (let i = 0; i < 5; i++) send('l0', { payload: [vector(16, 1), vector(16, 2)], label: ['a', 'b'] });
    const last = (await nth(after1, 5)).hff as Hff;
    assert.ok(last.trained, 'trained is reported');
    assert.ok(Number.isFinite(last.trained.loss));
    await waitStatus('l1', (s) => /^L1 trained, loss \d/.test(String(s.text)));
    await waitFor('the debounced save', () => fs.existsSync(path.join(modelDir(userDir), 'model.json')));
    // Without a label nothing is trained.
    send('l0', { payload: vector(16, 1) });
    assert.equal(((await nth(after1, 6)).hff as Hff).trained, undefined);
  });

  it('reports bad input, unknown labels and a missing layer to a Catch node', async () => {
    await helper.load(ALL_NODES, [...flow({ learn: true }), onTab({ id: 'l9', type: 'hff-layer', model: 'model', layer: 9, learn: false, wires: [[]] })]);
    const caught = collect('caught');
    const after0 = collect('after0');
    await waitStatus('l9', (s) => s.fill === 'red' && s.text === 'no layer 9 (model has 2)');
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['l0', { payload: vector(10, 1) }, /layer 0 input \(msg\.payload\): expected a vector of length 16, got length 10/],
      ['l1', { payload: vector(16, 1) }, /layer 1 input \(msg\.payload\): expected a vector of length 32, got length 16/],
      ['l0', { payload: [...vector(15, 1), NaN] }, /NaN|finite/],
      ['l0', { payload: vector(16, 1), label: 'zebra' }, /unknown class 'zebra'; known classes: a, b/],
      ['l9', { payload: vector(32, 1) }, /layer 9 does not exist/],
      ['l0', { payload: true }, /must be a vector/],
    ];
    for (const [id, msg, pattern] of cases) {
      const before = caught.length;
      send(id, msg);
      assert.match(caughtText(await nth(caught, before + 1, `error from ${id}`)), pattern);
    }
    send('l0', { payload: vector(16, 1) });
    await nth(after0, 1, 'output after the errors');
  });
});
