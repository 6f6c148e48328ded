import assert from 'node:assert/strict';
import { ModelFiles } from '../../src/model-file';

/** A small but representative model; `seed` changes every weight so two versions are distinguishable. */
export function sampleModel(seed = 1): ModelFiles {
  const weight = new Float32Array(12);
  for (let i = 0; i < weight.length; i++) weight[i] = Math.sin(seed * 100 + i) * 10;
  return {
    manifest: {
      architecture: { layers: [4, 3], activation: 'relu' },
      hyperParameters: { learningRate: 0.01, theta: 2 },
      classNames: ['tasse', 'boîte', '箱'],
      countsPerClass: { tasse: 3, boîte: 2, 箱: 1 },
      createdAt: '2025-01-01T00:00:00.000Z',
      savedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, seed)).toISOString(),
      engine: 'tfjs-cpu',
      version: seed,
    },
    tensors: {
      'layers.0.weight': { shape: [4, 3], data: weight },
      'layers.0.bias': { shape: [3], data: new Float32Array([seed, -0, 1e-45]) },
      temperature: { shape: [], data: new Float32Array([0.5 * seed]) },
    },
  };
}

function bits(data: Float32Array): number[] {
  return Array.from(new Uint32Array(data.buffer, data.byteOffset, data.length));
}

export function assertSameModel(actual: ModelFiles, expected: ModelFiles): void {
  assert.deepEqual(Object.keys(actual.tensors), Object.keys(expected.tensors));
  for (const [name, tensor] of Object.entries(expected.tensors)) {
    assert.deepEqual(actual.tensors[name].shape, tensor.shape, name);
    assert.deepEqual(bits(actual.tensors[name].data), bits(tensor.data), `${name} must round-trip bit-exactly`);
  }
  for (const [key, value] of Object.entries(expected.manifest)) {
    if (!['format', 'formatVersion', 'weights', 'tensors'].includes(key)) assert.deepEqual(actual.manifest[key], value, key);
  }
}
