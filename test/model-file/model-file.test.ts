import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModelFiles, MODEL_FORMAT_VERSION, ModelFiles, modelExists, saveModelFiles, SaveStep } from '../../src/model-file';
import { tempDir } from '../helpers/data';
import { assertSameModel, sampleModel } from './fixtures';

function listing(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

function readManifest(dir: string): Record<string, any> {
  return JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
}

function writeManifest(dir: string, manifest: unknown): void {
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(manifest, null, 2));
}

/** Replaces the weights file contents and fixes up the manifest so that only the intended defect remains. */
function rewriteWeights(dir: string, edit: (bytes: Buffer) => Buffer): void {
  const manifest = readManifest(dir);
  const oldPath = path.join(dir, manifest.weights.file);
  const bytes = edit(fs.readFileSync(oldPath));
  const sha = createHash('sha256').update(bytes).digest('hex');
  fs.rmSync(oldPath);
  manifest.weights = { file: `weights-${sha.slice(0, 16)}.bin`, sha256: sha, bytes: bytes.length };
  fs.writeFileSync(path.join(dir, manifest.weights.file), bytes);
  writeManifest(dir, manifest);
}

describe('model-file: save and load', () => {
  it('round-trips tensors bit-exactly and keeps the caller manifest fields', async () => {
    const dir = path.join(tempDir(), 'model');
    const model = sampleModel(3);
    model.tensors['extremes'] = {
      shape: [2, 3],
      data: new Float32Array([3.4028234663852886e38, -3.4028234663852886e38, 1.1754943508222875e-38, 1e-45, -0, Math.PI]),
    };
    await saveModelFiles(dir, model);
    assert.equal(modelExists(dir), true);
    const loaded = await loadModelFiles(dir);
    assertSameModel(loaded, model);
    assert.equal(loaded.manifest.format, 'hff-model');
    assert.equal(loaded.manifest.formatVersion, MODEL_FORMAT_VERSION);
    assert.ok(Object.is(loaded.tensors['layers.0.bias'].data[1], -0));
  });

  it('writes the documented layout: content-addressed little-endian float32 file, offsets in manifest order', async () => {
    const dir = tempDir();
    const model = sampleModel(2);
    await saveModelFiles(dir, model);
    const manifest = readManifest(dir);
    const weights = fs.readFileSync(path.join(dir, manifest.weights.file));
    const sha = createHash('sha256').update(weights).digest('hex');
    assert.equal(manifest.weights.sha256, sha);
    assert.equal(manifest.weights.file, `weights-${sha.slice(0, 16)}.bin`);
    assert.equal(manifest.weights.bytes, weights.length);
    assert.deepEqual(listing(dir), [manifest.weights.file, 'model.json'].sort());
    assert.deepEqual(manifest.tensors, [
      { name: 'layers.0.weight', shape: [4, 3], offset: 0 },
      { name: 'layers.0.bias', shape: [3], offset: 48 },
      { name: 'temperature', shape: [], offset: 60 },
    ]);
    assert.equal(weights.length, 64);
    assert.equal(weights.readFloatLE(4), model.tensors['layers.0.weight'].data[1]);
    assert.equal(weights.readFloatLE(48), 2);
    assert.equal(weights.readFloatLE(60), 1);
  });

  it('returns copies the caller owns', async () => {
    const dir = tempDir();
    const model = sampleModel();
    await saveModelFiles(dir, model);
    model.tensors['layers.0.bias'].data[0] = 999;
    const first = await loadModelFiles(dir);
    assert.equal(first.tensors['layers.0.bias'].data[0], 1, 'saving must not keep a live reference to the input');
    first.tensors['layers.0.bias'].data[0] = 123;
    first.tensors['layers.0.weight'].shape.push(7);
    const second = await loadModelFiles(dir);
    assert.equal(second.tensors['layers.0.bias'].data[0], 1);
    assert.deepEqual(second.tensors['layers.0.weight'].shape, [4, 3]);
    assert.notEqual(first.tensors['layers.0.bias'].data.buffer, second.tensors['layers.0.bias'].data.buffer);
    assert.notEqual(first.tensors['layers.0.bias'].data.buffer, first.tensors['temperature'].data.buffer);
  });

  it('a loaded model saves back unchanged; format fields from the caller are replaced', async () => {
    const dir = tempDir();
    await saveModelFiles(dir, sampleModel(4));
    const loaded = await loadModelFiles(dir);
    const other = tempDir();
    await saveModelFiles(other, loaded);
    assert.deepEqual(readManifest(other), readManifest(dir));

    const forged = sampleModel(4);
    forged.manifest.format = 'something-else';
    forged.manifest.formatVersion = 99;
    forged.manifest.tensors = 'nonsense';
    await saveModelFiles(other, forged);
    assert.deepEqual(readManifest(other), readManifest(dir));
  });

  it('replacing a model removes the old weights file but leaves unrelated files alone', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'keep me');
    fs.writeFileSync(path.join(dir, 'weights.bin.bak'), 'keep me too');
    await saveModelFiles(dir, sampleModel(1));
    const firstFile = readManifest(dir).weights.file;
    await saveModelFiles(dir, sampleModel(2));
    const secondFile = readManifest(dir).weights.file;
    assert.notEqual(firstFile, secondFile);
    assert.deepEqual(listing(dir), ['model.json', 'notes.txt', secondFile, 'weights.bin.bak'].sort());
    await saveModelFiles(dir, { ...sampleModel(2), manifest: { note: 'same weights' } });
    assert.equal(readManifest(dir).weights.file, secondFile, 'identical weights keep their name');
    assert.equal((await loadModelFiles(dir)).manifest.note, 'same weights');
  });

  it('accepts a model without tensors', async () => {
    const dir = tempDir();
    await saveModelFiles(dir, { manifest: { classNames: [] }, tensors: {} });
    const loaded = await loadModelFiles(dir);
    assert.deepEqual(loaded.tensors, {});
    assert.deepEqual(loaded.manifest.classNames, []);
  });
});

describe('model-file: refused saves touch nothing', () => {
  const cases: Array<[string, (m: ModelFiles) => void, RegExp]> = [
    [
      'shape/data mismatch',
      (m) => (m.tensors['layers.0.weight'].shape = [4, 4]),
      /tensor "layers\.0\.weight" has shape \[4, 4\] \(16 values\) but its data holds 12 values/,
    ],
    ['NaN', (m) => (m.tensors['layers.0.bias'].data[2] = NaN), /tensor "layers\.0\.bias" contains a non-finite value \(NaN\) at index 2/],
    ['Infinity', (m) => (m.tensors['temperature'].data[0] = -Infinity), /tensor "temperature" contains a non-finite value \(-Infinity\)/],
    [
      'zero dimension',
      (m) => (m.tensors['layers.0.bias'] = { shape: [0], data: new Float32Array(0) }),
      /tensor "layers\.0\.bias": shape entry 0 is 0, expected a positive whole number/,
    ],
    ['fractional dimension', (m) => (m.tensors['layers.0.bias'].shape = [1.5, 2]), /shape entry 0 is 1\.5/],
    ['not Float32Array', (m) => ((m.tensors['layers.0.bias'] as any).data = [1, 2, 3]), /tensor "layers\.0\.bias": data must be a Float32Array/],
    ['Float64Array', (m) => ((m.tensors['layers.0.bias'] as any).data = new Float64Array(3)), /data must be a Float32Array/],
    ['NaN in manifest', (m) => (m.manifest.hyperParameters = { learningRate: NaN }), /manifest cannot be written as JSON: field "learningRate" is NaN/],
  ];

  for (const [label, spoil, message] of cases) {
    it(label, async () => {
      const fresh = path.join(tempDir(), 'never-created');
      const model = sampleModel();
      spoil(model);
      await assert.rejects(saveModelFiles(fresh, model), (error: Error) => {
        assert.match(error.message, new RegExp(`^Cannot save model to ${escape(fresh)}: `));
        assert.match(error.message, message);
        return true;
      });
      assert.equal(fs.existsSync(fresh), false, 'the directory must not even be created');

      const existing = tempDir();
      await saveModelFiles(existing, sampleModel(5));
      const before = listing(existing).map((f) => [f, fs.readFileSync(path.join(existing, f), 'utf8')]);
      await assert.rejects(saveModelFiles(existing, model), message);
      assert.deepEqual(
        listing(existing).map((f) => [f, fs.readFileSync(path.join(existing, f), 'utf8')]),
        before,
      );
    });
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('model-file: validated load', () => {
  let dir: string;
  let manifestPath: string;
  beforeEach(async () => {
    dir = tempDir();
    manifestPath = path.join(dir, 'model.json');
    await saveModelFiles(dir, sampleModel());
  });

  async function rejectsWith(pattern: RegExp, file?: string): Promise<void> {
    await assert.rejects(loadModelFiles(dir), (error: Error) => {
      assert.match(error.message, pattern);
      if (file !== undefined) assert.ok(error.message.includes(file), `message should name ${file}: ${error.message}`);
      return true;
    });
  }

  function editManifest(edit: (m: Record<string, any>) => void): void {
    const manifest = readManifest(dir);
    edit(manifest);
    writeManifest(dir, manifest);
  }

  it('missing directory', async () => {
    dir = path.join(dir, 'nope');
    await rejectsWith(/^Model directory .* does not exist$/, dir);
    assert.equal(modelExists(dir), false);
  });

  it('path is a file', async () => {
    dir = manifestPath;
    await rejectsWith(/is not a directory/, manifestPath);
  });

  it('missing manifest', async () => {
    fs.rmSync(manifestPath);
    assert.equal(modelExists(dir), false);
    await rejectsWith(/^Model manifest .* is missing/, manifestPath);
  });

  it('manifest not JSON', async () => {
    fs.writeFileSync(manifestPath, '{"format": "hff-model", ');
    await rejectsWith(/is not valid JSON/, manifestPath);
  });

  it('manifest not an object', async () => {
    fs.writeFileSync(manifestPath, '[1, 2]');
    await rejectsWith(/is not a JSON object/, manifestPath);
  });

  it('wrong format', async () => {
    editManifest((m) => (m.format = 'keras'));
    await rejectsWith(/is not an HFF model: "format" is "keras", expected "hff-model"/, manifestPath);
    editManifest((m) => delete m.format);
    await rejectsWith(/"format" is missing/, manifestPath);
  });

  it('newer formatVersion', async () => {
    editManifest((m) => (m.formatVersion = 2));
    await rejectsWith(/has formatVersion 2, which is newer than .* can read; update the package \(supported: 1\)/, manifestPath);
  });

  it('older formatVersion', async () => {
    editManifest((m) => (m.formatVersion = 0));
    await rejectsWith(/has formatVersion 0, which is older than .* can read \(supported: 1\)/, manifestPath);
  });

  it('invalid formatVersion', async () => {
    editManifest((m) => (m.formatVersion = '1'));
    await rejectsWith(/invalid "formatVersion" "1" \(supported: 1\)/, manifestPath);
  });

  it('missing weights file', async () => {
    const file = path.join(dir, readManifest(dir).weights.file);
    fs.rmSync(file);
    await rejectsWith(/^Weights file .* is missing \(it is listed in .*model\.json\)$/, file);
  });

  it('truncated weights', async () => {
    const file = path.join(dir, readManifest(dir).weights.file);
    fs.truncateSync(file, 30);
    await rejectsWith(/is truncated: it has 30 bytes but .* expects 64/, file);
  });

  it('weights longer than recorded', async () => {
    const file = path.join(dir, readManifest(dir).weights.file);
    fs.appendFileSync(file, Buffer.alloc(4));
    await rejectsWith(/has 68 bytes but .* expects 64: it is corrupt or does not belong to this manifest/, file);
  });

  it('checksum mismatch', async () => {
    const file = path.join(dir, readManifest(dir).weights.file);
    const bytes = fs.readFileSync(file);
    bytes[5] ^= 0x01;
    fs.writeFileSync(file, bytes);
    await rejectsWith(/is corrupt: its SHA-256 is [0-9a-f]{64} but .* records [0-9a-f]{64}/, file);
  });

  it('tensor beyond the end of the weights', async () => {
    editManifest((m) => (m.tensors[2].offset = 64));
    await rejectsWith(/tensor "temperature": shape \[\] at offset 64 needs bytes up to 68 but the weights file has 64 bytes/, manifestPath);
    editManifest((m) => {
      m.tensors[2].offset = 60;
      m.tensors[1].shape = [5];
    });
    await rejectsWith(/tensor "layers\.0\.bias": shape \[5\] at offset 48 needs bytes up to 68/, manifestPath);
  });

  it('overlapping tensors', async () => {
    editManifest((m) => (m.tensors[1].offset = 40));
    await rejectsWith(/tensor "layers\.0\.bias" \(bytes 40\.\.\) overlaps tensor "layers\.0\.weight" \(bytes 0\.\.48\)/, manifestPath);
  });

  it('misaligned or negative offsets', async () => {
    editManifest((m) => (m.tensors[2].offset = 61));
    await rejectsWith(/tensor "temperature": offset 61 is not a non-negative multiple of 4 bytes/, manifestPath);
    editManifest((m) => (m.tensors[2].offset = -4));
    await rejectsWith(/offset -4 is not/, manifestPath);
  });

  it('non-positive or non-integer shape entries', async () => {
    for (const [shape, shown] of [
      [[0, 3], '0'],
      [[-4, 3], '-4'],
      [[2.5, 3], '2.5'],
      [['4', 3], '"4"'],
      [[null], 'null'],
    ] as const) {
      editManifest((m) => (m.tensors[0].shape = shape));
      await rejectsWith(new RegExp(`tensor "layers\\.0\\.weight": shape entry 0 is ${escape(shown)}, expected a positive whole number`), manifestPath);
    }
    editManifest((m) => (m.tensors[0].shape = 12));
    await rejectsWith(/shape is not an array/, manifestPath);
  });

  it('duplicate or unnamed tensors', async () => {
    editManifest((m) => (m.tensors[1].name = 'layers.0.weight'));
    await rejectsWith(/lists tensor "layers\.0\.weight" twice/, manifestPath);
    editManifest((m) => delete m.tensors[1].name);
    await rejectsWith(/tensors\[1\] has no name/, manifestPath);
  });

  it('weights entry that is missing, malformed or points outside the directory', async () => {
    editManifest((m) => (m.weights.file = '../../etc/weights-aa.bin'));
    await rejectsWith(/invalid "weights\.file" "\.\.\/\.\.\/etc\/weights-aa\.bin"/, manifestPath);
    editManifest((m) => (m.weights.file = 'weights-0000000000000000.bin'));
    await rejectsWith(/hash prefix does not match "weights\.sha256"/, manifestPath);
    editManifest((m) => delete m.weights);
    await rejectsWith(/has no "weights" object/, manifestPath);
  });

  it('non-finite values inside a well-formed weights file', async () => {
    rewriteWeights(dir, (bytes) => {
      bytes.writeFloatLE(NaN, 60);
      return bytes;
    });
    await rejectsWith(/tensor "temperature" contains a non-finite value \(NaN\) at index 0/);
  });

  it('a consistent hand-made model with gaps between tensors still loads', async () => {
    rewriteWeights(dir, (bytes) => Buffer.concat([bytes, Buffer.alloc(8)]));
    editManifest((m) => (m.tensors[2].offset = 68));
    const loaded = await loadModelFiles(dir);
    assert.equal(loaded.tensors['temperature'].data[0], 0);
  });
});

describe('model-file: crash safety', () => {
  const beforeCommit: SaveStep[] = ['weights-temp-written', 'weights-renamed', 'manifest-temp-written'];
  const afterCommit: SaveStep[] = ['manifest-renamed', 'directory-synced', 'cleaned-up'];

  it('a save failing at any step leaves the previous model (or, after the commit, the new one) loadable', async () => {
    for (const failAt of [...beforeCommit, ...afterCommit]) {
      const dir = tempDir();
      await saveModelFiles(dir, sampleModel(1));
      const failure = saveModelFiles(dir, sampleModel(2), {
        afterStep: (step) => {
          if (step === failAt) throw new Error(`injected failure after ${step}`);
        },
      });
      await assert.rejects(failure, new RegExp(`injected failure after ${failAt}`));
      const expected = beforeCommit.includes(failAt) ? sampleModel(1) : sampleModel(2);
      assertSameModel(await loadModelFiles(dir), expected);
      assert.deepEqual(
        listing(dir).filter((f) => f.includes('.tmp-')),
        [],
        `an ordinary failure cleans its temporaries (${failAt})`,
      );
    }
  });

  it('a process killed (SIGKILL) mid-save leaves a loadable model; the next save removes its leftovers', async function () {
    this.timeout(20000);
    const modelFileModule = path.resolve(__dirname, '..', '..', 'src', 'model-file');
    const { spawnSync } = await import('node:child_process');
    for (const killAt of ['weights-temp-written', 'weights-renamed', 'manifest-temp-written', 'manifest-renamed'] as SaveStep[]) {
      const dir = tempDir();
      await saveModelFiles(dir, sampleModel(1));
      const script = `
        const { saveModelFiles } = require(${JSON.stringify(modelFileModule)});
        const model = { manifest: { version: 2 }, tensors: { w: { shape: [3], data: new Float32Array([7, 8, 9]) } } };
        saveModelFiles(${JSON.stringify(dir)}, model, {
          afterStep: (step) => { if (step === ${JSON.stringify(killAt)}) process.kill(process.pid, 'SIGKILL'); },
        }).then(() => process.exit(3), () => process.exit(4));
      `;
      const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
      assert.equal(child.signal, 'SIGKILL', `child should have been killed at ${killAt}: ${child.stderr}`);

      const loaded = await loadModelFiles(dir);
      if (killAt === 'manifest-renamed') {
        assert.deepEqual(Array.from(loaded.tensors.w.data), [7, 8, 9]);
      } else {
        assertSameModel(loaded, sampleModel(1));
      }
      if (killAt === 'weights-temp-written' || killAt === 'manifest-temp-written') {
        assert.ok(
          listing(dir).some((f) => f.includes('.tmp-')),
          `a temporary file is left behind at ${killAt}`,
        );
      }

      await saveModelFiles(dir, sampleModel(3));
      const manifest = readManifest(dir);
      assert.deepEqual(listing(dir), [manifest.weights.file, 'model.json'].sort(), `leftovers removed after ${killAt}`);
      assertSameModel(await loadModelFiles(dir), sampleModel(3));
    }
  });

  it('leftover temporary files are ignored by load and removed by the next save', async () => {
    const dir = tempDir();
    await saveModelFiles(dir, sampleModel(1));
    const leftovers = ['.model.json.tmp-4242-deadbeef', '.weights-0123456789abcdef.bin.tmp-4242-cafebabe', 'weights-fedcba9876543210.bin'];
    fs.writeFileSync(path.join(dir, leftovers[0]), '{"format": "hff-model", "formatVersion": 1, "half-writ');
    fs.writeFileSync(path.join(dir, leftovers[1]), Buffer.alloc(10));
    fs.writeFileSync(path.join(dir, leftovers[2]), Buffer.alloc(12));
    assertSameModel(await loadModelFiles(dir), sampleModel(1));
    await saveModelFiles(dir, sampleModel(2));
    const manifest = readManifest(dir);
    assert.deepEqual(listing(dir), [manifest.weights.file, 'model.json'].sort());
    assertSameModel(await loadModelFiles(dir), sampleModel(2));
  });
});
