/**
 * Hostile and malformed messages into the model nodes (issue 18): each is refused with a clear error a Catch
 * node receives, the runtime keeps running, and what the model knows does not change.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
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
  lastStatus,
  modelConfig,
  newTempDir,
  nth,
  onTab,
  removeTempDirs,
  send,
  vector,
  waitFor,
  waitStatus,
} from './flow-helpers';

type Msg = Record<string, unknown>;

describe('hostile input into the model nodes', function () {
  beforeEach(() => {
    initNodeRed4();
  });
  afterEach(async () => {
    await helper.unload();
    assertNoUnhandledRejection();
  });
  after(removeTempDirs);

  function flow(model: Msg = {}, extra: { teach?: Msg; classify?: Msg; layer?: Msg; train?: Msg; drift?: Msg; image?: Msg } = {}) {
    return [
      TAB,
      modelConfig(model),
      onTab({ id: 'teach', type: 'hff-teach', model: 'model', mode: 'mean', rate: 0.1, meanOf: '', wires: [['taught']], ...extra.teach }),
      onTab({ id: 'classify', type: 'hff-classify', model: 'model', wires: [['results'], ['results']], ...extra.classify }),
      onTab({ id: 'layer', type: 'hff-layer', model: 'model', layer: 0, learn: true, wires: [['layered']], ...extra.layer }),
      onTab({ id: 'train', type: 'hff-train', model: 'model', source: 'messages', epochs: 1, wires: [['trained'], []], ...extra.train }),
      onTab({
        id: 'drift',
        type: 'hff-drift',
        detector: 'page-hinkley',
        direction: 'down',
        minInstances: 5,
        phLambda: 0.5,
        holdMs: 0,
        wires: [['drifted'], []],
        ...extra.drift,
      }),
      onTab({ id: 'image', type: 'hff-image', width: 4, height: 4, channels: 1, wires: [[]], ...extra.image }),
      helperNode('taught'),
      helperNode('results'),
      helperNode('layered'),
      helperNode('trained'),
      helperNode('drifted'),
      ...catchNodes(),
    ];
  }

  /** Teaches classes a, b, c and returns a function giving the classification of fixed probes. */
  async function taughtModel(): Promise<() => Promise<unknown[]>> {
    const taught = collect('taught');
    const results = collect('results');
    ['a', 'b', 'c'].forEach((label, i) => send('teach', { payload: [vector(16, 10 * i + 1), vector(16, 10 * i + 2)], label }));
    await nth(taught, 3, 'teach update');
    return async () => {
      const from = results.length;
      for (let p = 0; p < 6; p++) send('classify', { payload: vector(16, 100 + p) });
      await waitFor('probe results', () => results.length >= from + 6);
      return results.slice(from, from + 6).map((m) => m.payload);
    };
  }

  it('refuses values outside float32 range (1e39) and non-finite values in every vector path, model unchanged', async () => {
    await helper.load(ALL_NODES, flow());
    const probe = await taughtModel();
    const before = await probe();
    const caught = collect('caught');
    const poisoned = vector(16, 7);
    poisoned[3] = 1e39;
    const cases: [string, Msg, RegExp][] = [
      ['teach', { payload: poisoned, label: 'a' }, /msg.payload\[3\] is 1e\+39: every value must be a finite number within ±3.40e\+38/],
      ['teach', { payload: JSON.stringify(poisoned), label: 'x' }, /msg.payload\[3\] is 1e\+39/],
      ['teach', { payload: Float64Array.from(poisoned), label: 'a' }, /msg.payload\[3\] is 1e\+39/],
      ['teach', { payload: [vector(16, 1), poisoned], label: 'a' }, /msg.payload\[1\]\[3\] is 1e\+39/],
      ['layer', { payload: poisoned, label: 'a' }, /msg.payload\[3\] is 1e\+39/],
      ['classify', { payload: poisoned }, /msg.payload\[3\] is 1e\+39/],
      ['train', { topic: 'sample', payload: poisoned, label: 'a' }, /msg.payload\[3\] is 1e\+39/],
      ['teach', { payload: Float32Array.from(vector(16, 2)).fill(NaN, 2, 3), label: 'a' }, /msg.payload\[2\] is NaN/],
      ['teach', { payload: [...vector(15, 1), -Infinity], label: 'a' }, /msg.payload\[15\] is -Infinity/],
    ];
    for (const [i, [node, msg, expected]] of cases.entries()) {
      send(node, msg);
      assert.match(caughtText(await nth(caught, i + 1, `${node} error`)), expected);
    }
    assert.deepEqual(await probe(), before, 'clean input classifies exactly as before');
  });

  it('refuses sparse arrays instead of reading their holes as zeros', async () => {
    await helper.load(ALL_NODES, flow());
    const probe = await taughtModel();
    const before = await probe();
    const caught = collect('caught');
    const holey = vector(16, 1);
    delete holey[5];
    const cases: [string, Msg, RegExp][] = [
      ['teach', { payload: new Array(16), label: 'a' }, /msg.payload is a sparse array/],
      ['classify', { payload: new Array(784) }, /msg.payload is a sparse array/],
      ['teach', { payload: holey, label: 'a' }, /msg.payload\[5\] is an empty slot \(a sparse array\)/],
      ['classify', { payload: [vector(16, 1), , vector(16, 2)] }, /msg.payload\[1\] is an empty slot/], // eslint-disable-line no-sparse-arrays
    ];
    for (const [i, [node, msg, expected]] of cases.entries()) {
      send(node, msg);
      assert.match(caughtText(await nth(caught, i + 1)), expected);
    }
    assert.deepEqual(await probe(), before);
  });

  it('refuses labels that are not short printable class names, and bounds the classes taught from messages', async () => {
    await helper.load(ALL_NODES, flow({}, { teach: { maxClasses: 4 } }));
    const probe = await taughtModel();
    const before = await probe();
    const caught = collect('caught');
    const cases: [Msg, RegExp][] = [
      [{ label: '__proto__' }, /'__proto__' is reserved and cannot be a class name/],
      [{ label: 'constructor' }, /'constructor' is reserved/],
      [{ label: 'x'.repeat(10_000) }, /at most 200 characters, got 10000/],
      [{ label: 'bolt\u0000' }, /control character U\+0000/],
      [{ label: 'line\nbreak' }, /control character U\+000a/],
      [{ label: { name: 'a' } }, /msg.label must be a class name or index, got an object with fields \{name\}/],
      [{ label: ['a', 'b'] }, /msg.label has 2 labels but msg.payload has 1 vectors/],
      // A fourth class is within the limit; two more at once are not.
      [{ payload: [vector(16, 50), vector(16, 51)], label: ['e', 'f'] }, /would give the model 5 classes; this node allows at most 4/],
    ];
    for (const [i, [msg, expected]] of cases.entries()) {
      send('teach', { payload: vector(16, 40), ...msg });
      assert.match(caughtText(await nth(caught, i + 1)), expected);
    }
    send('teach', { topic: 'rename', label: 'a', payload: 'y'.repeat(300) });
    assert.match(caughtText(await nth(caught, cases.length + 1)), /at most 200 characters/);
    assert.deepEqual(await probe(), before);
  });

  it('reports an all-zero frame as unknown in hff-classify and refuses it as a demonstration', async () => {
    await helper.load(ALL_NODES, flow({ unknownThreshold: -1 }));
    await taughtModel();
    const results = collect('results');
    const caught = collect('caught');
    send('classify', { payload: new Array(16).fill(0) });
    const zero = (await nth(results, 1)).payload as Msg;
    assert.equal(zero.known, false, 'a zero vector has no direction: never a known class');
    send('classify', { payload: [new Array(16).fill(0), vector(16, 1)] });
    const batch = (await nth(results, 2)).payload as Msg[];
    assert.deepEqual(
      batch.map((r) => r.known),
      [false, true],
    );
    send('teach', { payload: new Array(16).fill(0), label: 'blank' });
    assert.match(caughtText(await nth(caught, 1)), /msg.payload is all zeros: a blank input has no direction/);
  });

  it('refuses a 20,000-deep object with a Catch in scope without crashing, and keeps working', async () => {
    await helper.load(ALL_NODES, flow());
    const probe = await taughtModel();
    const before = await probe();
    const caught = collect('caught');
    let deep: unknown = [1];
    for (let i = 0; i < 20_000; i++) deep = [deep];
    let deepObject: Msg = {};
    for (let i = 0; i < 20_000; i++) deepObject = { a: deepObject };
    const cases: [string, Msg][] = [
      ['teach', { payload: deep, label: 'a' }],
      ['classify', { payload: deepObject }],
      ['drift', { payload: deep }],
      ['layer', { payload: vector(16, 1), extra: deepObject }],
    ];
    for (const [i, [node, msg]] of cases.entries()) {
      send(node, msg);
      assert.match(caughtText(await nth(caught, i + 1)), /msg\.\w+ is nested more than 64 levels deep/);
    }
    assert.deepEqual(await probe(), before);
  });

  it('gives every batched output row its own buffer (1000 rows of 784 stay small when Node-RED clones them)', async () => {
    await helper.load(ALL_NODES, flow({ inputSize: 784, layers: '32', unknownThreshold: 0.99 }));
    const taught = collect('taught');
    send('teach', { payload: vector(784, 1), label: 'a' });
    send('teach', { payload: vector(784, 2), label: 'b' });
    await nth(taught, 2);
    const rows = Array.from({ length: 1000 }, (_, r) => vector(784, r + 3));
    const results = collect('results');
    const layered = collect('layered');
    send('classify', { payload: rows });
    send('layer', { payload: rows });
    await waitFor('classify outputs', () => results.length >= 1);
    const out = await nth(layered, 1);
    for (const m of results) {
      for (const v of m.vector as Float32Array[]) assert.equal(v.buffer.byteLength, 784 * 4, 'a classify row owns a buffer of its own size');
    }
    const z = out.payload as Float32Array[];
    assert.equal(z.length, 1000);
    for (const v of z) assert.equal(v.buffer.byteLength, 32 * 4, 'a layer row owns a buffer of its own size');
  });

  it('hff-drift: 1.7e308 then -1.7e308 are refused and a real drop is still detected; huge arrays are refused', async () => {
    await helper.load(ALL_NODES, flow());
    const caught = collect('caught');
    const drifted = collect('drifted');
    for (let i = 0; i < 20; i++) send('drift', { payload: 0.9 });
    await nth(drifted, 20);
    send('drift', { payload: 1.7e308 });
    send('drift', { payload: -1.7e308 });
    send('drift', { payload: [0.9, 1e300] });
    assert.match(caughtText(await nth(caught, 1)), /msg.payload is 1.7e\+308: the detector takes finite numbers within ±1e\+12/);
    assert.match(caughtText(await nth(caught, 2)), /msg.payload is -1.7e\+308/);
    assert.match(caughtText(await nth(caught, 3)), /msg.payload\[1\] is 1e\+300/);
    send('drift', { payload: new Array(10_000_000).fill(0.5) });
    assert.match(caughtText(await nth(caught, 4)), /array of 10000000 values; one message may give at most 100000/);
    const n = drifted.length;
    let seen = -1;
    for (let i = 0; i < 30 && seen < 0; i++) {
      send('drift', { payload: 0.1 });
      const m = await nth(drifted, n + i + 1);
      if ((m.drift as Msg).drift) seen = i + 1;
    }
    assert.ok(seen > 0 && seen <= 10, `the drop from 0.9 to 0.1 is detected within 10 samples (took ${seen})`);
    assert.equal(((await nth(drifted, 20)).drift as Msg).n, 20, 'the refused values were not counted');
  });

  it('shows a typo in any number setting as bad settings and an error for each message', async () => {
    await helper.load(
      ALL_NODES,
      flow({}, { teach: { rate: '0.1x' }, classify: { topK: 'three' }, layer: { layer: '1.5' }, drift: { phLambda: '5 5' }, image: { width: '28px' } }),
    );
    const caught = collect('caught');
    for (const id of ['teach', 'classify', 'layer', 'drift', 'image']) await waitStatus(id, (s) => s.text === 'bad settings');
    const cases: [string, RegExp][] = [
      ['teach', /hff-teach is misconfigured: EMA rate must be a number > 0 and <= 1, got "0.1x"/],
      ['classify', /hff-classify is misconfigured: top must be a whole number >= 1, got "three"/],
      ['layer', /hff-layer is misconfigured: layer must be a whole number >= 0, got "1.5"/],
      ['drift', /hff-drift is misconfigured: Page-Hinkley lambda must be a number, got "5 5"/],
      ['image', /hff-image is misconfigured: width must be a whole number >= 1 and <= 16384, got "28px"/],
    ];
    for (const [i, [id, expected]] of cases.entries()) {
      send(id, { payload: vector(16, 1), label: 'a' });
      assert.match(caughtText(await nth(caught, i + 1)), expected);
    }
    assert.equal(lastStatus('teach')?.text, 'bad settings');
  });

  it('a scheduled save that fails reaches the next teaching message (and its Catch), not only the log', async () => {
    const blocker = path.join(newTempDir(), 'not-a-folder');
    fs.writeFileSync(blocker, 'x');
    await helper.load(ALL_NODES, flow({ path: path.join(blocker, 'model') }));
    const taught = collect('taught');
    const caught = collect('caught');
    send('teach', { payload: vector(16, 1), label: 'a' });
    await nth(taught, 1);
    // The save 50 ms later fails: the folder cannot be created under a file.
    await new Promise((r) => setTimeout(r, 300));
    send('teach', { payload: vector(16, 2), label: 'b' });
    assert.match(caughtText(await nth(caught, 1)), /the last save of model tiny failed \(.*\); what was learned is kept in memory/);
    await nth(taught, 2, 'the update itself went out');
  });
});
