import * as assert from 'node:assert/strict';
import { modelStatus } from '../../../nodes/shared/model-client';

describe('modelStatus', function () {
  const t = (key: string, vars?: Record<string, unknown>) => `${key}${vars ? ` ${JSON.stringify(vars)}` : ''}`;
  const ready = { phase: 'ready' as const, classes: 2, layers: 2, version: 1, engine: 'onnx' };

  it('shows a ready model on its usual engine in green without naming the engine', () => {
    assert.deepEqual(modelStatus(ready, t), { colour: 'green', shape: 'dot', text: 'status.ready {"classes":2}' });
  });

  it('names the engine in yellow when an automatic choice fell back to a slower one', () => {
    const slow = { ...ready, engine: 'tfjs-wasm', engineFallback: 'the onnx engine did not load (...)' };
    assert.deepEqual(modelStatus(slow, t), { colour: 'yellow', shape: 'dot', text: 'status.ready {"classes":2} · tfjs-wasm' });
  });
});
