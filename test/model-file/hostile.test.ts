/**
 * Hostile model folders (issue 18): files that are devices, FIFOs or links leading outside the folder, absurd
 * declared sizes and hostile keys give a clear error at once, never a hang or an unbounded allocation.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createEngine } from '../../src/engines/backend';
import type { Engine } from '../../src/engines/types';
import { HffNetwork, loadNetwork, saveNetwork } from '../../src/hff';
import { loadModelFiles, modelExists, saveModelFiles } from '../../src/model-file';
import { tempDir } from '../helpers/data';
import { sampleModel } from './fixtures';

const dirs: string[] = [];
function freshDir(): string {
  const d = tempDir('hff-hostile-');
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function manifestOf(dir: string): Record<string, any> {
  return JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
}

/** Settles within `ms` or fails: a load must never hang. */
async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('model-file: hostile folders', () => {
  let dir: string;
  let weights: string;
  beforeEach(async () => {
    dir = freshDir();
    await saveModelFiles(dir, sampleModel());
    weights = path.join(dir, manifestOf(dir).weights.file);
  });

  it('a weights file that is a symbolic link to /dev/zero is refused at once', async () => {
    fs.rmSync(weights);
    fs.symlinkSync('/dev/zero', weights);
    await assert.rejects(within(2000, loadModelFiles(dir)), /Weights file .* is a symbolic link to \/dev\/zero, outside the model directory/);
  });

  it('a weights file that is a character device (reached through a link inside the folder) is refused', async () => {
    // A link inside the folder to another link inside it, which leads to /dev/zero: the final target counts.
    fs.rmSync(weights);
    fs.symlinkSync('/dev/zero', path.join(dir, 'zero'));
    fs.symlinkSync(path.join(dir, 'zero'), weights);
    await assert.rejects(within(2000, loadModelFiles(dir)), /outside the model directory/);
  });

  it('a weights file linked to a file outside the folder is refused, even a valid one', async () => {
    const elsewhere = freshDir();
    const outside = path.join(elsewhere, path.basename(weights));
    fs.renameSync(weights, outside);
    fs.symlinkSync(outside, weights);
    await assert.rejects(loadModelFiles(dir), /is a symbolic link to .*, outside the model directory; model files must lie inside it/);
  });

  it('a link to a file inside the folder is followed', async () => {
    const inside = path.join(dir, 'real.bin');
    fs.renameSync(weights, inside);
    fs.symlinkSync('real.bin', weights);
    const files = await loadModelFiles(dir);
    assert.ok(Object.keys(files.tensors).length > 0);
  });

  it('a FIFO as model.json is refused without waiting for a writer', async () => {
    fs.rmSync(path.join(dir, 'model.json'));
    execFileSync('mkfifo', [path.join(dir, 'model.json')]);
    assert.equal(modelExists(dir), true, 'an entry named model.json counts as a model, so that it is not replaced');
    await assert.rejects(within(2000, loadModelFiles(dir)), /Model manifest .*model\.json is not a regular file \(it is a FIFO\)/);
  });

  it('a directory named like the weights file is refused', async () => {
    fs.rmSync(weights);
    fs.mkdirSync(weights);
    await assert.rejects(loadModelFiles(dir), /is not a regular file \(it is a directory\)/);
  });

  it('a manifest with a "__proto__" key is refused', async () => {
    const text = fs.readFileSync(path.join(dir, 'model.json'), 'utf8');
    fs.writeFileSync(path.join(dir, 'model.json'), text.replace('{', '{"__proto__": {"polluted": true},'));
    await assert.rejects(loadModelFiles(dir), /has a "__proto__" key, which no model file has/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('a manifest larger than 32 MB is not read', async () => {
    const manifest = manifestOf(dir);
    manifest.padding = 'x'.repeat(33 * 1024 * 1024);
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(manifest));
    await assert.rejects(loadModelFiles(dir), /Model manifest .* has \d+ bytes; at most 33554432 are read/);
  });
});

describe('HffNetwork: hostile model files', () => {
  let engine: Engine;
  before(async () => {
    engine = await createEngine(process.env.HFF_BACKEND ?? 'wasm');
  });

  async function savedNetwork(): Promise<string> {
    const dir = freshDir();
    const net = HffNetwork.create(engine, { inputSize: 16, layers: [8], seed: 1 }, ['a', 'b']);
    await saveNetwork(dir, net);
    net.dispose();
    return dir;
  }

  function edit(dir: string, change: (m: Record<string, any>) => void): void {
    const m = manifestOf(dir);
    change(m);
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(m));
  }

  it('refuses transferLayers [200000, 200000] before allocating anything', async () => {
    const dir = await savedNetwork();
    edit(dir, (m) => {
      m.config.teaching = { ...(m.config.teaching ?? {}), transferLayers: [200000, 200000] };
    });
    const before = process.memoryUsage().rss;
    await assert.rejects(loadNetwork(dir, engine), /invalid architecture: teaching\.transferLayers .*200000, ?200000/);
    assert.ok(process.memoryUsage().rss - before < 100e6, 'nothing close to that was allocated');
  });

  it('refuses negative, fractional or missing class counts', async () => {
    for (const counts of [
      [-3, 1],
      [0.5, 1],
      [null, 1],
    ]) {
      const dir = await savedNetwork();
      edit(dir, (m) => {
        m.counts = counts;
      });
      await assert.rejects(loadNetwork(dir, engine), /counts\[0\] is .*, expected a whole number of demonstrations >= 0/);
    }
  });

  it('refuses class names a message could not teach (too long, control characters, __proto__)', async () => {
    for (const [name, expected] of [
      ['x'.repeat(100_000), /at most 200 characters/],
      ['a\u0007b', /control character/],
      ['__proto__', /reserved/],
    ] as const) {
      const dir = await savedNetwork();
      edit(dir, (m) => {
        m.classes = [name, 'b'];
      });
      await assert.rejects(loadNetwork(dir, engine), expected);
    }
  });
});

describe('HffNetwork: parameter bound', () => {
  it('refuses layer stacks holding more than 1e8 weights, even when each width is moderate', async () => {
    const engine = await createEngine(process.env.HFF_BACKEND ?? 'wasm');
    assert.throws(
      () => HffNetwork.create(engine, { inputSize: 16, layers: [8], teaching: { transferLayers: [20000, 20000] } }),
      /teaching.transferLayers \[20000, 20000\] on an input of 16 would hold 4.00e\+8 weights; at most 1e\+8 are accepted/,
    );
    assert.throws(() => HffNetwork.create(engine, { inputSize: 50_000, layers: [4000] }), /layers \[4000\] on an input of 50000 would hold 2.00e\+8 weights/);
  });
});
