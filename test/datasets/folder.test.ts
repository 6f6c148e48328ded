import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CIFAR10_CLASSES, loadDataset } from '../../src/datasets';
import { imageFileToVector } from '../../src/image';
import { solid, writeJpeg, writePng, removeScratchDirs, scratchDir } from './fixtures';

/** Class colours, so every decoded sample shows which class folder it came from. */
const COLOURS: Record<string, [number, number, number]> = {
  cat: [200, 30, 30],
  dog: [30, 200, 30],
  bird: [30, 30, 200],
};

async function makeFolder(root: string, perClass: Record<string, number>, size = 6): Promise<void> {
  for (const [cls, count] of Object.entries(perClass)) {
    for (let i = 0; i < count; i++) {
      await writePng(path.join(root, cls, `${String(i).padStart(3, '0')}.png`), solid(size, size, COLOURS[cls]), size, size, 3);
    }
  }
}

function firstPixel(ds: { images: Float32Array; inputSize: number }, i: number): number[] {
  return Array.from(ds.images.subarray(i * ds.inputSize, i * ds.inputSize + 3), (v) => Math.round(v * 255));
}

describe('datasets: image folders', () => {
  after(removeScratchDirs);

  it('loads <root>/<split>/<class>/*.png with alphabetical classes and HWC pixels', async () => {
    const dir = scratchDir();
    await makeFolder(path.join(dir, 'train'), { dog: 2, cat: 2, bird: 1 });
    const ds = await loadDataset({ name: 'folder', dir });
    assert.deepEqual(ds.classes, ['bird', 'cat', 'dog']);
    assert.deepEqual([ds.name, ds.split, ds.n, ds.width, ds.height, ds.channels, ds.inputSize], ['folder', 'train', 5, 6, 6, 3, 108]);
    for (let i = 0; i < ds.n; i++) assert.deepEqual(firstPixel(ds, i), COLOURS[ds.classes[ds.labels[i]]], `sample ${i}`);
  });

  it('orders samples one class at a time, so limit gives a class-balanced prefix', async () => {
    const dir = scratchDir();
    await makeFolder(dir, { cat: 3, dog: 1, bird: 2 }, 2);
    const ds = await loadDataset({ name: 'folder', dir });
    assert.deepEqual(Array.from(ds.labels), [0, 1, 2, 0, 1, 1]);
    const few = await loadDataset({ name: 'folder', dir, limit: 3 });
    assert.deepEqual(Array.from(few.labels), [0, 1, 2]);
    assert.equal(few.images.length, 3 * 12);
  });

  it('loads class folders directly under the root as the train split only', async () => {
    const dir = scratchDir();
    await makeFolder(dir, { cat: 1, dog: 1 }, 2);
    assert.equal((await loadDataset({ name: 'folder', dir })).n, 2);
    await assert.rejects(loadDataset({ name: 'folder', dir, split: 'test' }), {
      message: `folder: ${dir} has no 'test' sub-folder; its class folders are loaded as split 'train' only`,
    });
  });

  it('uses the union of class folders over splits so train and test share label indices', async () => {
    const dir = scratchDir();
    await makeFolder(path.join(dir, 'train'), { bird: 1, cat: 1, dog: 1 }, 2);
    await makeFolder(path.join(dir, 'test'), { dog: 1 }, 2);
    const test = await loadDataset({ name: 'folder', dir, split: 'test' });
    assert.deepEqual(test.classes, ['bird', 'cat', 'dog']);
    assert.deepEqual(Array.from(test.labels), [2]);
  });

  it('reports a missing split folder', async () => {
    const dir = scratchDir();
    await makeFolder(path.join(dir, 'train'), { cat: 1 }, 2);
    await assert.rejects(loadDataset({ name: 'folder', dir, split: 'test' }), { message: `folder: ${dir} has no 'test' sub-folder (found: train)` });
  });

  it('sizes every image like the first one, or as requested', async () => {
    const dir = scratchDir();
    await writePng(path.join(dir, 'a', '0.png'), solid(8, 4, [10, 20, 30]), 8, 4, 3);
    await writeJpeg(path.join(dir, 'b', '0.JPG'), solid(16, 16, [40, 50, 60]), 16, 16);
    await writePng(path.join(dir, 'b', '1.jpeg.png'), solid(3, 3, [1, 2, 3]), 3, 3, 3);
    fs.writeFileSync(path.join(dir, 'b', 'notes.txt'), 'ignored');
    fs.writeFileSync(path.join(dir, 'a', '.DS_Store'), 'ignored');
    const ds = await loadDataset({ name: 'folder', dir });
    assert.deepEqual([ds.n, ds.width, ds.height, ds.channels], [3, 8, 4, 3]);
    const grey = await loadDataset({ name: 'folder', dir, width: 5, height: 7, channels: 1 });
    assert.deepEqual([grey.width, grey.height, grey.channels, grey.images.length], [5, 7, 1, 105]);
  });

  it('keeps grey images single-channel by default', async () => {
    const dir = scratchDir();
    const g = Uint8Array.from({ length: 12 }, (_, i) => i * 20);
    await writePng(path.join(dir, 'train', '7', '0.png'), g, 4, 3, 1);
    const ds = await loadDataset({ name: 'folder', dir });
    assert.deepEqual([ds.width, ds.height, ds.channels], [4, 3, 1]);
    assert.deepEqual(
      Array.from(ds.images, (v) => Math.round(v * 255)),
      Array.from(g),
    );
  });

  it('decodes through the same function as imageFileToVector', async () => {
    const dir = scratchDir();
    const file = path.join(dir, 'x', '0.jpg');
    const raw = Uint8Array.from({ length: 10 * 10 * 3 }, (_, i) => (i * 29) % 256);
    await writeJpeg(file, raw, 10, 10);
    const ds = await loadDataset({ name: 'folder', dir, width: 7, height: 5, channels: 3 });
    const cam = await imageFileToVector(file, { width: 7, height: 5, channels: 3 });
    assert.deepEqual(ds.images, cam.vector);
  });

  it('names an undecodable file', async () => {
    const dir = scratchDir();
    await makeFolder(dir, { cat: 2 }, 2);
    const bad = path.join(dir, 'cat', '001.png');
    fs.writeFileSync(bad, 'garbage');
    await assert.rejects(loadDataset({ name: 'folder', dir }), (e: Error) => e.message.startsWith(`folder: cannot decode ${bad}: `));
  });

  it('rejects missing folders, no classes and no images', async () => {
    const dir = scratchDir();
    const missing = path.join(dir, 'nope');
    await assert.rejects(loadDataset({ name: 'folder', dir: missing }), new RegExp(`^Error: folder: directory ${missing} does not exist \\(expected `));
    await assert.rejects(loadDataset({ name: 'folder', dir }), new RegExp(`^Error: folder: no class sub-folders in ${dir}`));
    fs.mkdirSync(path.join(dir, 'empty'));
    await assert.rejects(loadDataset({ name: 'folder', dir }), { message: `folder: no .png/.jpg/.jpeg images in the class folders of ${dir} (empty)` });
  });

  it('cifar10 loads an image-folder copy with CIFAR-10 class order', async () => {
    const dir = scratchDir();
    for (const [i, cls] of CIFAR10_CLASSES.entries()) {
      await writeJpeg(path.join(dir, 'test', cls, '0000.jpg'), solid(32, 32, [i * 20, 100, 200 - i * 20]), 32, 32);
    }
    const ds = await loadDataset({ name: 'cifar10', dir, split: 'test' });
    assert.deepEqual(ds.classes, ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
    assert.deepEqual(Array.from(ds.labels), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual([ds.name, ds.n, ds.width, ds.height, ds.channels], ['cifar10', 10, 32, 32, 3]);
    for (let i = 0; i < 10; i++) assert.ok(Math.abs(firstPixel(ds, i)[0] - i * 20) <= 3, `class ${i}`);
  });

  it('cifar10 refuses an image folder with other classes', async () => {
    const dir = scratchDir();
    await makeFolder(path.join(dir, 'train'), { cat: 1, dog: 1 }, 2);
    await assert.rejects(loadDataset({ name: 'cifar10', dir }), {
      message: `cifar10: image folder ${path.join(dir, 'train')} has classes cat, dog, expected the CIFAR-10 classes ${CIFAR10_CLASSES.join(', ')}; load other class sets with the 'folder' dataset`,
    });
  });
});
