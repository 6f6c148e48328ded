import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { CIFAR10_CLASSES, loadDataset } from '../../src/datasets';
import { cifarBatch, cifarRecordHwc, cifarValue, writeCifarBatches, writePng, removeScratchDirs, scratchDir } from './fixtures';

describe('datasets: CIFAR-10 binary batches', () => {
  after(removeScratchDirs);

  for (const variant of [
    { name: 'plain', gzip: false, gzName: false },
    { name: 'gzipped .bin.gz', gzip: true, gzName: true },
    { name: 'gzipped under the .bin name', gzip: true, gzName: false },
  ]) {
    it(`loads ${variant.name} train batches 1..5 in order`, async () => {
      const dir = scratchDir();
      writeCifarBatches(dir, variant);
      const ds = await loadDataset({ name: 'cifar10', dir });
      assert.deepEqual([ds.name, ds.split, ds.n, ds.height, ds.width, ds.channels, ds.inputSize], ['cifar10', 'train', 10, 32, 32, 3, 3072]);
      assert.deepEqual(Array.from(ds.labels), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.deepEqual(ds.classes, [...CIFAR10_CLASSES]);
    });
  }

  it('puts the planar R, G, B bytes of a record at their interleaved HWC positions', async () => {
    const dir = scratchDir();
    writeCifarBatches(dir);
    const ds = await loadDataset({ name: 'cifar10', dir, split: 'test' });
    assert.deepEqual([ds.n, Array.from(ds.labels)], [3, [3, 9, 0]]);
    const rec = 1; // second record of test_batch.bin, built as record number 101
    const img = ds.images.subarray(rec * 3072, (rec + 1) * 3072);
    for (const [y, x] of [
      [0, 0],
      [0, 31],
      [5, 7],
      [31, 0],
      [31, 31],
    ]) {
      for (let c = 0; c < 3; c++) {
        assert.equal(img[(y * 32 + x) * 3 + c], Math.fround(cifarValue(101, c, y * 32 + x) / 255), `y=${y} x=${x} c=${c}`);
      }
    }
    assert.deepEqual(
      img,
      Float32Array.from(cifarRecordHwc(101), (v) => v / 255),
    );
  });

  it('finds batches in the cifar-10-batches-bin folder of the official archive', async () => {
    const dir = scratchDir();
    writeCifarBatches(path.join(dir, 'cifar-10-batches-bin'));
    assert.equal((await loadDataset({ name: 'cifar10', dir, split: 'test' })).n, 3);
  });

  it('limit takes the first N records across batches', async () => {
    const dir = scratchDir();
    writeCifarBatches(dir);
    const ds = await loadDataset({ name: 'cifar10', dir, limit: 3 });
    assert.equal(ds.n, 3);
    assert.deepEqual(Array.from(ds.labels), [0, 1, 2]);
    assert.deepEqual(
      ds.images.subarray(2 * 3072),
      Float32Array.from(cifarRecordHwc(2), (v) => v / 255),
    );
  });

  it('resizes and converts to grey on request', async () => {
    const dir = scratchDir();
    writeCifarBatches(dir);
    const ds = await loadDataset({ name: 'cifar10', dir, split: 'test', width: 16, height: 16, channels: 1 });
    assert.deepEqual([ds.width, ds.height, ds.channels, ds.inputSize, ds.images.length], [16, 16, 1, 256, 768]);
    assert.ok(ds.images.every((v) => v >= 0 && v <= 1));
  });

  it('gives the same vectors as a PNG image-folder copy of the same pictures', async () => {
    const bin = scratchDir();
    writeCifarBatches(bin);
    const folder = scratchDir();
    const labels = [3, 9, 0];
    for (let r = 0; r < 3; r++) {
      await writePng(path.join(folder, 'test', CIFAR10_CLASSES[labels[r]], `${r}.png`), cifarRecordHwc(100 + r), 32, 32, 3);
    }
    for (const cls of CIFAR10_CLASSES) fs.mkdirSync(path.join(folder, 'test', cls), { recursive: true });
    const a = await loadDataset({ name: 'cifar10', dir: bin, split: 'test' });
    const b = await loadDataset({ name: 'cifar10', dir: folder, split: 'test' });
    // The folder is ordered by class (airplane=0 first); match samples by label.
    for (let i = 0; i < 3; i++) {
      const j = Array.from(b.labels).indexOf(a.labels[i]);
      assert.deepEqual(b.images.subarray(j * 3072, (j + 1) * 3072), a.images.subarray(i * 3072, (i + 1) * 3072), `label ${a.labels[i]}`);
    }
  });

  it('rejects a truncated batch, saying how many records and bytes are left over', async () => {
    const dir = scratchDir();
    writeCifarBatches(dir);
    const file = path.join(dir, 'data_batch_3.bin');
    fs.writeFileSync(file, cifarBatch([1, 2]).subarray(0, 3073 + 1000));
    await assert.rejects(loadDataset({ name: 'cifar10', dir }), {
      message: `cifar10: ${file} is truncated or not a CIFAR-10 batch: 4073 bytes is not a whole number of 3073-byte records (label + 3072 pixels): 1 whole records and 1000 bytes left over`,
    });
    fs.writeFileSync(file, zlib.gzipSync(cifarBatch([1, 2])).subarray(0, 50));
    await assert.rejects(loadDataset({ name: 'cifar10', dir }), new RegExp(`cifar10: ${file} starts like gzip but cannot be decompressed`));
    fs.writeFileSync(file, Buffer.alloc(0));
    await assert.rejects(loadDataset({ name: 'cifar10', dir }), { message: `cifar10: ${file} is empty` });
  });

  it('points out CIFAR-100 records', async () => {
    const dir = scratchDir();
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), Buffer.alloc(3074 * 3));
    await assert.rejects(loadDataset({ name: 'cifar10', dir, split: 'test' }), /fits 3074-byte CIFAR-100 records/);
  });

  it('rejects a label outside 0..9', async () => {
    const dir = scratchDir();
    writeCifarBatches(dir);
    const file = path.join(dir, 'test_batch.bin');
    fs.writeFileSync(file, cifarBatch([1, 2, 10]));
    await assert.rejects(loadDataset({ name: 'cifar10', dir, split: 'test', limit: 1 }), { message: `cifar10: ${file} record 2 has label 10, outside 0..9` });
  });

  it('names missing batches of a split', async () => {
    const dir = scratchDir();
    writeCifarBatches(dir);
    fs.rmSync(path.join(dir, 'data_batch_2.bin'));
    fs.rmSync(path.join(dir, 'data_batch_5.bin'));
    await assert.rejects(loadDataset({ name: 'cifar10', dir }), {
      message: `cifar10: ${dir} holds CIFAR-10 binary batches but not data_batch_2.bin, data_batch_5.bin (or .gz) for split 'train'`,
    });
    fs.rmSync(path.join(dir, 'test_batch.bin'));
    await assert.rejects(loadDataset({ name: 'cifar10', dir, split: 'test' }), /but not test_batch.bin \(or .gz\) for split 'test'/);
  });

  it('lists what it looked for when there is no CIFAR-10 data at all', async () => {
    const dir = scratchDir();
    await assert.rejects(loadDataset({ name: 'cifar10', dir }), (e: Error) =>
      e.message.startsWith(
        `cifar10: no CIFAR-10 data for split 'train' in ${dir}: looked for the binary batches data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin (or .gz) in ${dir} or ${path.join(dir, 'cifar-10-batches-bin')}, or an image folder ${path.join(dir, 'train', '<class>')}/*.png|jpg|jpeg with classes airplane, automobile,`,
      ),
    );
    const missing = path.join(dir, 'nope');
    await assert.rejects(
      loadDataset({ name: 'cifar10', dir: missing, split: 'test' }),
      new RegExp(`^Error: cifar10: directory ${missing} does not exist \\(looked for the binary batches test_batch.bin`),
    );
  });
});
