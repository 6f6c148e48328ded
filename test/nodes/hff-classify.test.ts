import assert from 'node:assert/strict';
import { createEngine } from '../../src/engines/backend';
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
  nth,
  onTab,
  removeTempDirs,
  send,
  vector,
  waitFor,
  waitStatus,
} from './flow-helpers';

interface Result {
  label: string;
  index: number;
  score: number;
  margin: number;
  known: boolean;
  top: { label: string; score: number }[];
  row?: number;
}

describe('hff-classify', function () {
  beforeEach(() => {
    initNodeRed4();
  });
  afterEach(async () => {
    await helper.unload();
    assertNoUnhandledRejection();
  });
  after(removeTempDirs);

  function flow(classify: Record<string, unknown> = {}, model: Record<string, unknown> = {}) {
    return [
      TAB,
      modelConfig(model),
      onTab({ id: 'teach', type: 'hff-teach', model: 'model', mode: 'mean', wires: [['taught']] }),
      onTab({ id: 'classify', type: 'hff-classify', model: 'model', topK: 2, threshold: '', scoring: '', wires: [['known'], ['unknown']], ...classify }),
      helperNode('taught'),
      helperNode('known'),
      helperNode('unknown'),
      ...catchNodes(),
    ];
  }

  async function teach(taught: Record<string, unknown>[], label: string, seed: number) {
    const before = taught.length;
    send('teach', { payload: vector(16, seed), label });
    await nth(taught, before + 1, `taught ${label}`);
  }

  it('classifies a vector in one pass: result on output 1 with label, score, margin, top', async () => {
    await helper.load(ALL_NODES, flow());
    const taught = collect('taught');
    const known = collect('known');
    await teach(taught, 'bolt', 1);
    await teach(taught, 'nut', 2);
    send('classify', { payload: Float32Array.from(vector(16, 1)), topic: 'camera' });
    const msg = await nth(known, 1);
    const r = msg.payload as Result;
    assert.equal(r.label, 'bolt');
    assert.equal(r.index, 0);
    assert.ok(r.score > 0.99, `score ${r.score}`);
    assert.equal(r.known, true);
    assert.ok(r.margin > 0);
    assert.deepEqual(
      r.top.map((t) => t.label),
      ['bolt', 'nut'],
    );
    assert.equal(msg.topic, 'camera', 'other message properties pass through');
    assert.ok(msg.vector instanceof Float32Array && msg.vector.length === 16, 'the input vector comes along for teaching');
    await waitStatus('classify', (s) => s.fill === 'green' && s.text === `bolt ${r.score.toFixed(2)}`);
  });

  it('sends inputs under the unknown threshold to output 2 only', async () => {
    await helper.load(ALL_NODES, flow({ threshold: 0.999 }));
    const taught = collect('taught');
    const known = collect('known');
    const unknown = collect('unknown');
    await teach(taught, 'bolt', 1);
    send('classify', { payload: vector(16, 7) });
    const msg = await nth(unknown, 1);
    assert.equal((msg.payload as Result).known, false);
    await waitStatus('classify', (s) => s.fill === 'yellow' && /^unknown \(bolt\? /.test(String(s.text)));
    send('classify', { payload: vector(16, 1) });
    await nth(known, 1);
    assert.equal(unknown.length, 1);
    assert.equal(known.length, 1);
  });

  it('classifies a batch: every result on output 1, the unknown rows also on output 2', async () => {
    await helper.load(ALL_NODES, flow({ threshold: 0.999 }));
    const taught = collect('taught');
    const known = collect('known');
    const unknown = collect('unknown');
    await teach(taught, 'bolt', 1);
    send('classify', { payload: [vector(16, 1), vector(16, 7), vector(16, 1)] });
    const all = (await nth(known, 1)).payload as Result[];
    assert.equal(all.length, 3);
    assert.deepEqual(
      all.map((r) => r.known),
      [true, false, true],
    );
    const u = await nth(unknown, 1);
    assert.deepEqual(
      (u.payload as Result[]).map((r) => r.row),
      [1],
    );
    assert.equal((u.vector as Float32Array[]).length, 1);
  });

  it('accepts JSON text (as from MQTT) and number arrays', async () => {
    await helper.load(ALL_NODES, flow({}, { classes: 'a,b' }));
    const known = collect('known');
    const unknown = collect('unknown');
    send('classify', { payload: JSON.stringify(vector(16, 1)) });
    send('classify', { payload: Buffer.from(JSON.stringify(vector(16, 2))) });
    await waitFor('two results', () => known.length + unknown.length === 2);
  });

  it('reports bad inputs to a Catch node with a message naming the problem, and keeps working', async () => {
    await helper.load(ALL_NODES, flow({}, { classes: 'a,b' }));
    const caught = collect('caught');
    const known = collect('known');
    const unknown = collect('unknown');
    const bad: [unknown, RegExp][] = [
      [vector(15, 1), /expected a vector of length 16, got length 15/],
      [[...vector(15, 1), NaN], /NaN|finite/],
      ['hello', /not a JSON number array/],
      [{ x: 1 }, /must be a vector .* got an object with fields \{x\}/],
      [[], /empty array/],
      [[vector(16, 1), 'x'], /msg\.payload\[1\] is the string "x", expected a vector of numbers/],
    ];
    for (const [payload, pattern] of bad) {
      const before = caught.length;
      send('classify', { payload });
      const text = caughtText(await nth(caught, before + 1, `error for ${JSON.stringify(payload)}`));
      assert.match(text, pattern);
    }
    send('classify', { payload: vector(16, 3) });
    await waitFor('a result after the errors', () => known.length + unknown.length === 1);
  });

  it('a model without classes answers "teach one first"', async () => {
    await helper.load(ALL_NODES, flow());
    const caught = collect('caught');
    send('classify', { payload: vector(16, 1) });
    assert.equal(caughtText(await nth(caught, 1)), 'the model has no classes yet: teach one first');
  });

  it('10,000 inputs leave the number of tensors unchanged', async function () {
    this.timeout(120_000);
    // tf.memory().numTensors for the tfjs engines (the tests run on wasm unless HFF_BACKEND says otherwise).
    const engine = await createEngine('auto');
    await helper.load(ALL_NODES, flow({}, { classes: 'a,b,c' }));
    const known = collect('known');
    const unknown = collect('unknown');
    const caught = collect('caught');
    send('classify', { payload: vector(16, 0) });
    await waitFor('first result', () => known.length + unknown.length === 1);
    const before = engine.liveTensors();
    if (engine.name.startsWith('tfjs')) assert.equal(before, (await import('@tensorflow/tfjs')).memory().numTensors);
    // 1,000 single messages, then 9,000 inputs as batches of 100: 10,000 inputs through both paths.
    for (let i = 1; i <= 1000; i++) send('classify', { payload: vector(16, i % 97) });
    await waitFor('1,000 single results', () => known.length + unknown.length === 1001, 60_000);
    const batch = Array.from({ length: 100 }, (_, i) => vector(16, i));
    for (let b = 0; b < 90; b++) send('classify', { payload: batch });
    await waitFor('all batches', () => known.filter((m) => Array.isArray(m.payload)).length === 90, 60_000);
    assert.equal(caught.length, 0);
    assert.equal(engine.liveTensors(), before);
  });

  it('close leaves nothing running', async () => {
    await helper.load(ALL_NODES, flow({}, { classes: 'a' }));
    const known = collect('known');
    const unknown = collect('unknown');
    send('classify', { payload: vector(16, 1) });
    await waitFor('a result', () => known.length + unknown.length === 1);
    await helper.unload();
    // Nothing keeps running after close: no timer allocates anything later.
    const engine = await createEngine('auto');
    const after = engine.liveTensors();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(engine.liveTensors(), after);
  });
});
