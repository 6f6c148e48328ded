import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { FASHION_MNIST_CLASSES, MNIST_CLASSES, loadDataset } from '../../src/datasets';
import { imageToVector } from '../../src/image';
import { idxBytes, tinyIdx, writeIdxPair, removeScratchDirs, scratchDir } from './fixtures';

const ROWS = 4;
const COLS = 3;

describe('datasets: MNIST / Fashion-MNIST IDX', () => {
  after(removeScratchDirs);

  for (const gzip of [false, true]) {
    it(`loads ${gzip ? 'gzipped' : 'plain'} IDX files with pixels in [0,1] and labels`, async () => {
      const dir = scratchDir();
      const d = tinyIdx(5, ROWS, COLS);
      writeIdxPair(dir, 'train', d, ROWS, COLS, { gzip });
      const ds = await loadDataset({ name: 'mnist', dir });
      assert.deepEqual([ds.name, ds.split, ds.n, ds.height, ds.width, ds.channels, ds.inputSize], ['mnist', 'train', 5, ROWS, COLS, 1, 12]);
      assert.deepEqual(
        ds.images,
        Float32Array.from(d.images, (v) => v / 255),
      );
      assert.deepEqual(Array.from(ds.labels), Array.from(d.labels));
      assert.deepEqual(ds.classes, [...MNIST_CLASSES]);
    });
  }

  it('reads the t10k files for the test split and Fashion-MNIST class names', async () => {
    const dir = scratchDir();
    writeIdxPair(dir, 't10k', tinyIdx(3, ROWS, COLS), ROWS, COLS, { gzip: true });
    const ds = await loadDataset({ name: 'fashion-mnist', dir, split: 'test' });
    assert.equal(ds.n, 3);
    assert.equal(ds.split, 'test');
    assert.deepEqual(ds.classes, ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
    assert.deepEqual(ds.classes, [...FASHION_MNIST_CLASSES]);
  });

  it('detects gzip by magic bytes, not by name', async () => {
    const dir = scratchDir();
    const d = tinyIdx(4, ROWS, COLS);
    // gzipped content under the plain name, plain content under the .gz name
    fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), zlib.gzipSync(idxBytes([4, ROWS, COLS], d.images)));
    fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte.gz'), idxBytes([4], d.labels));
    const ds = await loadDataset({ name: 'mnist', dir });
    assert.deepEqual(
      ds.images,
      Float32Array.from(d.images, (v) => v / 255),
    );
    assert.deepEqual(Array.from(ds.labels), Array.from(d.labels));
  });

  it('accepts the dotted names some mirrors use and a torchvision raw/ folder', async () => {
    const dir = scratchDir();
    fs.mkdirSync(path.join(dir, 'raw'));
    writeIdxPair(path.join(dir, 'raw'), 'train', tinyIdx(2, ROWS, COLS), ROWS, COLS, { names: ['train-images.idx3-ubyte', 'train-labels.idx1-ubyte'] });
    assert.equal((await loadDataset({ name: 'mnist', dir })).n, 2);
  });

  it('limit keeps the first N samples', async () => {
    const dir = scratchDir();
    const d = tinyIdx(6, ROWS, COLS);
    writeIdxPair(dir, 'train', d, ROWS, COLS);
    const ds = await loadDataset({ name: 'mnist', dir, limit: 4 });
    assert.equal(ds.n, 4);
    assert.equal(ds.images.length, 4 * 12);
    assert.deepEqual(Array.from(ds.labels), Array.from(d.labels.subarray(0, 4)));
    assert.equal((await loadDataset({ name: 'mnist', dir, limit: 100 })).n, 6);
    await assert.rejects(loadDataset({ name: 'mnist', dir, limit: 0 }), /mnist: limit must be a positive integer, got 0/);
  });

  it('resizes and expands channels through the camera decode path', async () => {
    const dir = scratchDir();
    const d = tinyIdx(3, ROWS, COLS);
    writeIdxPair(dir, 'train', d, ROWS, COLS);
    const ds = await loadDataset({ name: 'mnist', dir, width: 6, height: 8, channels: 3 });
    assert.deepEqual([ds.width, ds.height, ds.channels, ds.inputSize, ds.images.length], [6, 8, 3, 144, 432]);
    // image 1 must equal what a camera sending the same pixels as mono8 produces
    const cam = await imageToVector(
      { width: COLS, height: ROWS, encoding: 'mono8', step: COLS, data: d.images.subarray(12, 24) },
      { width: 6, height: 8, channels: 3 },
    );
    assert.deepEqual(ds.images.subarray(144, 288), cam.vector);
    const same = await imageToVector(
      { width: COLS, height: ROWS, encoding: 'mono8', data: d.images.subarray(12, 24) },
      { width: COLS, height: ROWS, channels: 1 },
    );
    const plain = await loadDataset({ name: 'mnist', dir });
    assert.deepEqual(plain.images.subarray(12, 24), same.vector, 'direct scaling equals the sharp path');
  });

  it('rejects a bad magic number, naming the file', async () => {
    const dir = scratchDir();
    const d = tinyIdx(2, ROWS, COLS);
    const files = writeIdxPair(dir, 'train', d, ROWS, COLS);
    fs.writeFileSync(files.images, idxBytes([2], d.labels)); // a labels file where the images should be
    await assert.rejects(loadDataset({ name: 'mnist', dir }), {
      message: `mnist: ${files.images} has magic number 0x00000801 (that is an IDX labels file), expected 0x00000803 for IDX images`,
    });
    fs.writeFileSync(files.images, Buffer.from([0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]));
    await assert.rejects(loadDataset({ name: 'mnist', dir }), /has magic number 0x12345678, expected 0x00000803/);
  });

  it('rejects truncated pixels, a truncated header and extra bytes', async () => {
    const dir = scratchDir();
    const d = tinyIdx(2, ROWS, COLS);
    const files = writeIdxPair(dir, 'train', d, ROWS, COLS);
    fs.writeFileSync(files.images, idxBytes([2, ROWS, COLS], d.images.subarray(0, 20)));
    await assert.rejects(loadDataset({ name: 'mnist', dir }), {
      message: `mnist: ${files.images} is truncated: expected 24 bytes of pixels (2x4x3), found 20`,
    });
    fs.writeFileSync(files.images, idxBytes([2, ROWS, COLS], d.images).subarray(0, 10));
    await assert.rejects(loadDataset({ name: 'mnist', dir }), { message: `mnist: ${files.images} is truncated: 10 bytes, the IDX header needs 16` });
    fs.writeFileSync(files.images, Buffer.concat([idxBytes([2, ROWS, COLS], d.images), Buffer.alloc(5)]));
    await assert.rejects(loadDataset({ name: 'mnist', dir }), /has 5 bytes after the 24 bytes of pixels its header announces/);
  });

  it('rejects a truncated gzip download', async () => {
    const dir = scratchDir();
    const files = writeIdxPair(dir, 'train', tinyIdx(2, ROWS, COLS), ROWS, COLS, { gzip: true });
    const gz = fs.readFileSync(files.images);
    fs.writeFileSync(files.images, gz.subarray(0, gz.length - 12));
    await assert.rejects(
      loadDataset({ name: 'mnist', dir }),
      (e: Error) =>
        e.message.startsWith(`mnist: ${files.images} starts like gzip but cannot be decompressed (`) &&
        e.message.endsWith('the download is probably truncated'),
    );
  });

  it('rejects an image/label count mismatch', async () => {
    const dir = scratchDir();
    const d = tinyIdx(3, ROWS, COLS);
    const files = writeIdxPair(dir, 'train', d, ROWS, COLS);
    fs.writeFileSync(files.labels, idxBytes([2], d.labels.subarray(0, 2)));
    await assert.rejects(loadDataset({ name: 'mnist', dir }), { message: `mnist: ${files.images} has 3 images but ${files.labels} has 2 labels` });
  });

  it('rejects labels out of range', async () => {
    const dir = scratchDir();
    const d = tinyIdx(3, ROWS, COLS);
    d.labels[2] = 10;
    const files = writeIdxPair(dir, 'train', d, ROWS, COLS);
    await assert.rejects(loadDataset({ name: 'fashion-mnist', dir, limit: 1 }), {
      message: `fashion-mnist: ${files.labels} label 10 at index 2 is out of range 0..9`,
    });
  });

  it('lists the file names looked for when files or the folder are missing', async () => {
    const dir = scratchDir();
    await assert.rejects(loadDataset({ name: 'mnist', dir, split: 'test' }), {
      message:
        `mnist: no test split in ${dir} (or ${path.join(dir, 'raw')}): looked for t10k-images-idx3-ubyte.gz or t10k-images-idx3-ubyte or t10k-images.idx3-ubyte.gz or t10k-images.idx3-ubyte, ` +
        'and for t10k-labels-idx1-ubyte.gz or t10k-labels-idx1-ubyte or t10k-labels.idx1-ubyte.gz or t10k-labels.idx1-ubyte',
    });
    writeIdxPair(dir, 'train', tinyIdx(2, ROWS, COLS), ROWS, COLS);
    fs.rmSync(path.join(dir, 'train-labels-idx1-ubyte'));
    await assert.rejects(loadDataset({ name: 'mnist', dir }), /looked for train-labels-idx1-ubyte.gz or train-labels-idx1-ubyte or/);
    const missing = path.join(dir, 'nope');
    await assert.rejects(
      loadDataset({ name: 'mnist', dir: missing }),
      new RegExp(`^Error: mnist: directory ${missing} does not exist \\(looked for train-images-idx3-ubyte.gz`),
    );
  });

  it('rejects unknown dataset names and bad options', async () => {
    await assert.rejects(loadDataset({ name: 'imagenet' as 'mnist', dir: '/x' }), {
      message: 'dataset: unknown dataset "imagenet" (known: mnist, fashion-mnist, cifar10, folder)',
    });
    await assert.rejects(loadDataset({ name: 'mnist', dir: '' }), /mnist: dir must be a non-empty folder path/);
    await assert.rejects(loadDataset({ name: 'mnist', dir: '/x', split: 'val' as 'test' }), /mnist: split must be 'train' or 'test', got "val"/);
  });

  it('asks for width and height together', async () => {
    const dir = scratchDir();
    writeIdxPair(dir, 'train', tinyIdx(2, ROWS, COLS), ROWS, COLS);
    await assert.rejects(loadDataset({ name: 'mnist', dir, width: 10 }), /mnist: give width and height together \(got width 10, height undefined\)/);
  });
});
