import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModelFiles } from '../../src/model-file';
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
  waitStatus,
} from './flow-helpers';

type Payload = Record<string, unknown>;

describe('hff-teach', function () {
  let userDir: string;
  beforeEach(() => {
    userDir = initNodeRed4();
  });
  afterEach(async () => {
    await helper.unload();
    assertNoUnhandledRejection();
  });
  after(removeTempDirs);

  function flow(teach: Record<string, unknown> = {}, model: Record<string, unknown> = {}) {
    return [
      TAB,
      modelConfig(model),
      onTab({ id: 'teach', type: 'hff-teach', model: 'model', mode: 'mean', rate: 0.1, meanOf: '', wires: [['out']], ...teach }),
      onTab({ id: 'classify', type: 'hff-classify', model: 'model', wires: [['known'], ['unknown']] }),
      helperNode('out'),
      helperNode('known'),
      helperNode('unknown'),
      ...catchNodes(),
    ];
  }

  it('creates a class from a demonstration, then refines it; one message per update', async () => {
    await helper.load(ALL_NODES, flow());
    const out = collect('out');
    send('teach', { payload: vector(16, 1), label: 'bolt' });
    const first = await nth(out, 1);
    assert.equal(first.topic, 'teach');
    const p1 = first.payload as Payload;
    assert.equal(p1.action, 'teach');
    assert.equal(p1.label, 'bolt');
    assert.equal(p1.index, 0);
    assert.equal(p1.created, true);
    assert.equal(p1.count, 1);
    assert.equal(p1.mode, 'mean');
    assert.deepEqual(p1.classes, ['bolt']);
    assert.equal(typeof p1.version, 'number');
    await waitStatus('teach', (s) => s.text === 'new class bolt');
    send('teach', { payload: [vector(16, 2), vector(16, 3)], label: 'bolt' });
    const p2 = (await nth(out, 2)).payload as Payload;
    assert.equal(p2.created, false);
    assert.equal(p2.count, 3);
    assert.equal(p2.applied, 2);
    assert.ok((p2.version as number) > (p1.version as number));
    assert.equal((p2.similarityBefore as number[]).length, 2, 'one similarity per layer');
    await waitStatus('teach', (s) => s.text === 'bolt (3)');
    // Accepts an index for an existing class.
    send('teach', { payload: vector(16, 4), label: 0 });
    assert.equal(((await nth(out, 3)).payload as Payload).count, 4);
  });

  it('groups a batch by label: one update per class', async () => {
    await helper.load(ALL_NODES, flow());
    const out = collect('out');
    send('teach', { payload: [vector(16, 1), vector(16, 2), vector(16, 3)], label: ['a', 'b', 'a'] });
    const a = (await nth(out, 1)).payload as Payload;
    const b = (await nth(out, 2)).payload as Payload;
    assert.deepEqual([a.label, a.count, b.label, b.count], ['a', 2, 'b', 1]);
  });

  it('mean of the first N demonstrations, and EMA', async () => {
    await helper.load(ALL_NODES, flow({ meanOf: 2 }));
    const out = collect('out');
    send('teach', { payload: [vector(16, 1), vector(16, 2), vector(16, 3)], label: 'x' });
    const p = (await nth(out, 1)).payload as Payload;
    assert.equal(p.count, 2);
    assert.equal(p.applied, 2);
    await helper.unload();
    initNodeRed4();
    await helper.load(ALL_NODES, flow({ mode: 'ema', rate: 0.5 }));
    const out2 = collect('out');
    send('teach', { payload: vector(16, 1), label: 'y' });
    send('teach', { payload: vector(16, 2), label: 'y' });
    const e = (await nth(out2, 2)).payload as Payload;
    assert.equal(e.mode, 'ema');
    assert.equal(e.count, 2);
  });

  it('forget, rename, reset one class', async () => {
    await helper.load(ALL_NODES, flow());
    const out = collect('out');
    send('teach', { payload: [vector(16, 1), vector(16, 2), vector(16, 3)], label: ['a', 'b', 'c'] });
    await nth(out, 3);
    send('teach', { topic: 'rename', label: 'a', payload: 'bolt' });
    const r = await nth(out, 4);
    assert.equal(r.topic, 'rename');
    assert.deepEqual(r.payload, {
      action: 'rename',
      label: 'bolt',
      previous: 'a',
      index: 0,
      version: (r.payload as Payload).version,
      classes: ['bolt', 'b', 'c'],
    });
    await waitStatus('teach', (s) => s.text === 'a → bolt');
    send('teach', { topic: 'forget', label: 'b' });
    const f = (await nth(out, 5)).payload as Payload;
    assert.deepEqual([f.action, f.label, f.index, f.classes], ['forget', 'b', 1, ['bolt', 'c']]);
    await waitStatus('teach', (s) => s.text === 'forgot b');
    send('teach', { topic: 'reset', label: 'c' });
    const c = (await nth(out, 6)).payload as Payload;
    assert.deepEqual([c.action, c.label, c.classes], ['reset', 'c', ['bolt']]);
  });

  it("answers topic 'classes' with the class list and changes nothing", async () => {
    await helper.load(ALL_NODES, flow());
    const out = collect('out');
    send('teach', { payload: [vector(16, 1), vector(16, 2)], label: ['a', 'b'] });
    const taught = (await nth(out, 2)).payload as Payload;
    send('teach', { topic: 'classes' });
    const r = await nth(out, 3);
    assert.equal(r.topic, 'classes');
    assert.deepEqual(r.payload, { action: 'classes', version: taught.version, classes: ['a', 'b'] });
  });

  it('reset without a label restores the model as it was when the model node started, and saves it', async () => {
    await helper.load(ALL_NODES, flow({}, { classes: 'seed', saveDelay: 60_000 }));
    const out = collect('out');
    send('teach', { payload: vector(16, 1), label: 'new' });
    await nth(out, 1);
    send('teach', { topic: 'reset' });
    const p = (await nth(out, 2)).payload as Payload;
    assert.deepEqual([p.action, p.classes], ['reset', ['seed']]);
    await waitStatus('teach', (s) => s.text === 'reset, 1 classes');
    await waitStatus('classify', (s) => s.text === 'ready, 1 classes');
    // The model still works after the swap.
    const known = collect('known');
    const unknown = collect('unknown');
    send('classify', { payload: vector(16, 1) });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(known.length + unknown.length, 1);
    await helper.unload();
    assert.deepEqual((await loadModelFiles(modelDir(userDir))).manifest.classes, ['seed']);
  });

  it("'save' writes the model now", async () => {
    await helper.load(ALL_NODES, flow({}, { saveDelay: 60_000 }));
    const out = collect('out');
    send('teach', { payload: vector(16, 1), label: 'bolt' });
    await nth(out, 1);
    const dir = modelDir(userDir);
    assert.equal(fs.existsSync(path.join(dir, 'model.json')), false);
    send('teach', { topic: 'save' });
    const s = await nth(out, 2);
    assert.equal((s.payload as Payload).action, 'save');
    assert.equal((s.payload as Payload).dir, dir);
    assert.deepEqual((await loadModelFiles(dir)).manifest.classes, ['bolt']);
    await waitStatus('teach', (st) => st.text === 'saved, 1 classes');
  });

  it('reports bad input to a Catch node and keeps working', async () => {
    await helper.load(ALL_NODES, flow());
    const out = collect('out');
    const caught = collect('caught');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ payload: vector(16, 1) }, /msg\.label is missing/],
      [{ payload: vector(12, 1), label: 'x' }, /expected a vector of length 16, got length 12/],
      [{ payload: [...vector(15, 1), NaN], label: 'x' }, /NaN|finite/],
      [{ payload: vector(16, 1), label: 3 }, /class index 3 is outside/],
      [{ payload: vector(16, 1), label: { a: 1 } }, /msg\.label must be a class name or index/],
      [{ payload: [vector(16, 1), vector(16, 2)], label: ['a'] }, /msg\.label has 1 labels but msg\.payload has 2 vectors/],
      [{ topic: 'forget', label: 'nope' }, /unknown class 'nope'/],
      [{ topic: 'rename', label: 'nope', payload: 'x' }, /unknown class 'nope'/],
      [{ topic: 'rename', label: 'nope' }, /rename needs the new class name/],
      [{ payload: 'abc', label: 'x' }, /not a JSON number array/],
    ];
    for (const [msg, pattern] of cases) {
      const before = caught.length;
      send('teach', msg);
      assert.match(caughtText(await nth(caught, before + 1, `error for ${JSON.stringify(msg)}`)), pattern);
    }
    assert.equal(out.length, 0);
    send('teach', { payload: vector(16, 1), label: 'ok' });
    assert.equal(((await nth(out, 1)).payload as Payload).label, 'ok');
  });
});
