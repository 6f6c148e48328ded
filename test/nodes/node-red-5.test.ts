/** Every node loads and works in Node-RED 5 too (the rest of the suite runs on Node-RED 4, the installed runtime). */
import assert from 'node:assert/strict';
import {
  ALL_NODES,
  assertNoUnhandledRejection,
  TAB,
  catchNodes,
  caughtText,
  collect,
  helper,
  helperNode,
  modelConfig,
  newTempDir,
  nth,
  onTab,
  removeTempDirs,
  send,
  useTestBackend,
  vector,
  waitFor,
  waitStatus,
} from './flow-helpers';
import { nodeRedPath } from '../../src/demo/runtime';

describe('Node-RED 5', function () {
  before(() => {
    useTestBackend();
    const red5 = require.resolve('node-red-5');
    helper.init(red5);
    helper.settings({ userDir: newTempDir() });
    // The helper runs the runtime it was given: Node-RED 5's own @node-red packages.
    const runtime = (helper as unknown as { _RED: { version(): string } })._RED.version();
    assert.match(runtime, /^5\./);
  });
  after(async () => {
    await helper.unload();
    assertNoUnhandledRejection();
    // Leave the helper on Node-RED 4 for whatever runs next.
    helper.init(nodeRedPath());
    removeTempDirs();
  });

  it('loads every hff node; teach, classify, layer, drift, image and train work; errors reach a Catch node', async () => {
    await helper.load(ALL_NODES, [
      TAB,
      modelConfig({ inputShape: '4x4x1' }),
      onTab({ id: 'image', type: 'hff-image', model: 'model', width: 4, height: 4, channels: 1, wires: [['teach']] }),
      onTab({ id: 'teach', type: 'hff-teach', model: 'model', wires: [['taught']] }),
      onTab({ id: 'layer', type: 'hff-layer', model: 'model', layer: 0, wires: [['layered']] }),
      onTab({ id: 'classify', type: 'hff-classify', model: 'model', wires: [['drift', 'known'], ['unknown']] }),
      onTab({ id: 'drift', type: 'hff-drift', detector: 'page-hinkley', wires: [['drifted'], []] }),
      onTab({ id: 'train', type: 'hff-train', model: 'model', source: 'messages', epochs: 1, wires: [['trained'], []] }),
      ...['taught', 'layered', 'known', 'unknown', 'drifted', 'trained'].map(helperNode),
      ...catchNodes(),
    ]);
    const taught = collect('taught');
    const layered = collect('layered');
    const known = collect('known');
    const unknown = collect('unknown');
    const drifted = collect('drifted');
    const trained = collect('trained');
    const caught = collect('caught');
    await waitStatus('classify', (s) => s.text === 'ready, 0 classes');
    send('image', { payload: vector(16, 1), label: 'a' });
    send('teach', { payload: vector(16, 2), label: 'b' });
    await nth(taught, 2);
    send('classify', { payload: vector(16, 1) });
    await waitFor('a classification', () => known.length + unknown.length === 1);
    await waitStatus('classify', (s) => s.fill === 'green' || s.fill === 'yellow');
    send('layer', { payload: vector(16, 1) });
    assert.equal(((await nth(layered, 1)).payload as Float32Array).length, 32);
    send('drift', { payload: 0.5 });
    assert.equal(((await nth(drifted, 1)).drift as { detector: string }).detector, 'page-hinkley');
    for (let i = 0; i < 6; i++) send('train', { topic: 'sample', payload: vector(16, i), label: i % 2 ? 'a' : 'b' });
    send('train', { topic: 'train' });
    assert.equal(((await nth(trained, 1, 'metrics', 30_000)).payload as { n: number }).n, 6);
    send('classify', { payload: vector(3, 1) });
    assert.match(caughtText(await nth(caught, 1)), /expected a vector of length 16, got length 3/);
  });
});
