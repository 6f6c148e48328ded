import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFiles, ModelStore, SaveStep } from '../../src/model-file';
import { tempDir } from '../helpers/data';
import { assertSameModel, sampleModel } from './fixtures';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls instead of sleeping a fixed time, so a busy machine slows the test down rather than failing it. */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Records what the store writes: which model version each commit carried and whether writes overlapped. */
function recorder(dir: string, delayMs = 0) {
  const committed: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const hooks = {
    afterStep: async (step: SaveStep): Promise<void> => {
      if (step === 'weights-temp-written') {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        if (delayMs > 0) await sleep(delayMs);
      }
      if (step === 'manifest-renamed') {
        committed.push(JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')).version);
      }
      if (step === 'cleaned-up') inFlight--;
    },
  };
  return {
    hooks,
    committed,
    get maxInFlight() {
      return maxInFlight;
    },
  };
}

describe('model-file: ModelStore', () => {
  it('queued saves run one at a time, in call order', async () => {
    const dir = path.join(tempDir(), 'store');
    const rec = recorder(dir, 15);
    const store = new ModelStore(dir, { hooks: rec.hooks });
    assert.equal(store.dir, path.resolve(dir));
    assert.equal(store.exists(), false);
    await Promise.all([1, 2, 3, 4].map((v) => store.save(sampleModel(v))));
    assert.deepEqual(rec.committed, [1, 2, 3, 4]);
    assert.equal(rec.maxInFlight, 1);
    assert.equal(store.exists(), true);
    assertSameModel(await store.load(), sampleModel(4));
  });

  it('save copies the model at call time, so training can go on', async () => {
    const dir = tempDir();
    const store = new ModelStore(dir, { hooks: recorder(dir, 10).hooks });
    const model = sampleModel(1);
    const expected = sampleModel(1);
    const saving = store.save(model);
    model.tensors['layers.0.bias'].data.fill(42);
    await saving;
    assertSameModel(await store.load(), expected);
  });

  it('an invalid or failing save rejects without blocking later saves', async () => {
    const dir = tempDir();
    let failNext = true;
    const store = new ModelStore(dir, {
      hooks: {
        afterStep: (step) => {
          if (step === 'manifest-temp-written' && failNext) {
            failNext = false;
            throw new Error('disk full (simulated)');
          }
        },
      },
    });
    const bad = sampleModel(1);
    bad.tensors['temperature'].data[0] = NaN;
    const results = await Promise.allSettled([store.save(bad), store.save(sampleModel(2)), store.save(sampleModel(3))]);
    assert.match((results[0] as PromiseRejectedResult).reason.message, /tensor "temperature" contains a non-finite value/);
    assert.match((results[1] as PromiseRejectedResult).reason.message, /disk full \(simulated\)/);
    assert.equal(results[2].status, 'fulfilled');
    assertSameModel(await store.load(), sampleModel(3));
  });

  it('load waits for the saves already queued', async () => {
    const dir = tempDir();
    const store = new ModelStore(dir, { hooks: recorder(dir, 10).hooks });
    void store.save(sampleModel(1));
    void store.save(sampleModel(2));
    assertSameModel(await store.load(), sampleModel(2));
  });

  it('scheduleSave coalesces many rapid calls into one write of the latest model', async () => {
    const dir = tempDir();
    const rec = recorder(dir);
    const store = new ModelStore(dir, { debounceMs: 30, hooks: rec.hooks });
    let gets = 0;
    for (let v = 1; v <= 50; v++) {
      store.scheduleSave(() => {
        gets++;
        return sampleModel(v);
      });
    }
    assert.equal(store.exists(), false, 'nothing is written before the delay');
    await waitFor(() => rec.committed.length > 0, 'the scheduled write');
    await sleep(80);
    assert.equal(gets, 1);
    assert.deepEqual(rec.committed, [50]);
    assertSameModel(await store.load(), sampleModel(50));
  });

  it('continuous scheduling still saves regularly (the delay is not extended by later calls)', async () => {
    const dir = tempDir();
    const rec = recorder(dir);
    const store = new ModelStore(dir, { debounceMs: 25, hooks: rec.hooks });
    for (let v = 1; v <= 30; v++) {
      store.scheduleSave(() => sampleModel(v));
      await sleep(5);
    }
    await store.flush();
    assert.ok(rec.committed.length >= 2 && rec.committed.length < 30, `${rec.committed.length} writes`);
    assert.equal(rec.committed[rec.committed.length - 1], 30);
    assert.deepEqual(
      [...rec.committed].sort((a, b) => a - b),
      rec.committed,
      'writes are in order',
    );
  });

  it('flush performs a pending scheduled save now and waits for it', async () => {
    const dir = tempDir();
    const rec = recorder(dir, 10);
    const store = new ModelStore(dir, { debounceMs: 60_000, hooks: rec.hooks });
    let model: ModelFiles = sampleModel(1);
    store.scheduleSave(() => model);
    model = sampleModel(2);
    store.scheduleSave(() => model);
    await store.flush();
    assert.deepEqual(rec.committed, [2]);
    assertSameModel(await store.load(), sampleModel(2));
    await store.flush();
    assert.deepEqual(rec.committed, [2], 'nothing pending: flush writes nothing');
  });

  it('flush also waits for explicit saves in the queue', async () => {
    const dir = tempDir();
    const rec = recorder(dir, 20);
    const store = new ModelStore(dir, { hooks: rec.hooks });
    void store.save(sampleModel(1));
    void store.save(sampleModel(2));
    await store.flush();
    assert.deepEqual(rec.committed, [1, 2]);
  });

  it('a failing scheduled save goes to onError, or else to the next flush', async () => {
    const errors: Error[] = [];
    const withHandler = new ModelStore(tempDir(), { debounceMs: 5, onError: (e) => errors.push(e) });
    withHandler.scheduleSave(() => {
      throw new Error('model is busy');
    });
    await waitFor(() => errors.length > 0, 'onError');
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /scheduled save could not get the model: model is busy/);
    await withHandler.flush();

    const withoutHandler = new ModelStore(tempDir(), { debounceMs: 5 });
    const bad = sampleModel();
    bad.tensors['layers.0.bias'].data[0] = Infinity;
    withoutHandler.scheduleSave(() => bad);
    await sleep(40);
    await assert.rejects(withoutHandler.flush(), /tensor "layers\.0\.bias" contains a non-finite value \(Infinity\)/);
    await withoutHandler.flush();

    const flushed = new ModelStore(tempDir(), { debounceMs: 60_000 });
    flushed.scheduleSave(() => bad);
    await assert.rejects(flushed.flush(), /non-finite/);
  });

  it('rejects bad constructor arguments', () => {
    assert.throws(() => new ModelStore(''), /ModelStore: a model directory path is required/);
    assert.throws(() => new ModelStore(tempDir(), { debounceMs: -1 }), /option 'debounceMs' must be a number of milliseconds >= 0/);
    assert.throws(() => new ModelStore(tempDir()).scheduleSave(undefined as unknown as () => ModelFiles), /scheduleSave needs a function/);
  });
});
