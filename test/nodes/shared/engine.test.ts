import * as assert from 'node:assert/strict';
import { onnxAvailability } from '../../../src/engines/backend';
import { skipForEnvironment } from '../../helpers/skip';

type EngineModule = typeof import('../../../nodes/shared/engine');

/**
 * A fresh copy of nodes/shared/engine (its engines are process-wide state, and the node tests of this mocha run
 * have already started some); the copy the node modules hold is put back afterwards.
 */
function freshModule(): { module: EngineModule; restore(): void } {
  const id = require.resolve('../../../nodes/shared/engine');
  const original = require.cache[id];
  delete require.cache[id];
  const module = require(id) as EngineModule;
  return {
    module,
    restore: () => {
      if (original) require.cache[id] = original;
      else delete require.cache[id];
    },
  };
}

describe('nodes/shared/engine: sharedEngine', function () {
  let shared: EngineModule;
  let restore: () => void;
  const logged: string[] = [];
  beforeEach(function () {
    ({ module: shared, restore } = freshModule());
    logged.length = 0;
    shared.setEngineLog({ info: (t) => logged.push(`info ${t}`), warn: (t) => logged.push(`warn ${t}`) });
  });
  afterEach(function () {
    restore();
  });

  it('starts one tfjs engine for models deployed together, and logs its start once', async function () {
    const [a, b, c] = await Promise.all([shared.sharedEngine('wasm'), shared.sharedEngine('wasm'), shared.sharedEngine('auto')]);
    assert.equal(a.engine.name, 'tfjs-wasm');
    assert.equal(b.engine, a.engine);
    assert.equal(c.engine, a.engine, "'auto' takes the active engine");
    assert.equal(a.note, undefined);
    assert.equal(logged.filter((l) => l.includes('compute engine')).length, 1, logged.join('\n'));
  });

  it('gives a model asking for another tfjs backend the active one, with a note saying so', async function () {
    const first = await shared.sharedEngine('wasm');
    const second = await shared.sharedEngine('cpu');
    assert.equal(second.engine, first.engine);
    assert.match(second.note ?? '', /backend 'cpu' was chosen but 'tfjs-wasm' is already active/);
  });

  it('keeps the onnx engine apart from the tfjs one', async function () {
    const onnx = onnxAvailability();
    if (!onnx.available) skipForEnvironment(this, `onnx engine unavailable (${onnx.reason})`);
    const tfjs = await shared.sharedEngine('wasm');
    const first = await shared.sharedEngine('onnx');
    const again = await shared.sharedEngine('onnx');
    assert.equal(first.engine.name, 'onnx');
    assert.notEqual(first.engine, tfjs.engine);
    assert.equal(again.engine, first.engine);
    assert.equal(first.note, undefined);
  });

  it('rejects an unknown choice with the accepted ones, and starts engines normally afterwards', async function () {
    await assert.rejects(shared.sharedEngine('gpu'), /unknown backend 'gpu'; choose one of auto, onnx, tfjs-node, wasm, cpu/);
    const next = await shared.sharedEngine('wasm');
    assert.equal(next.engine.name, 'tfjs-wasm');
  });
});
