/**
 * `hff export`: the exported ONNX graph, loaded with onnxruntime-node's public (async) API as any other ONNX
 * consumer would, scores like the engines (max absolute difference < 1e-4) and carries the class names.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createEngine, onnxAvailability } from '../../src/engines/backend';
import type { Engine } from '../../src/engines/types';
import { HffNetwork, saveNetwork, trainNetwork } from '../../src/hff';
import { exportOnnx, networkToOnnx } from '../../src/onnx-export';
import { onnxProto } from '../../src/onnx/graph-builder';
import { tempDir } from '../helpers/data';
import { blobs, maxAbsDiff } from '../engines/reference';
import { skipForEnvironment } from '../helpers/skip';

interface OrtModule {
  InferenceSession: {
    create(path: string): Promise<{
      inputNames: readonly string[];
      outputNames: readonly string[];
      run(feeds: Record<string, unknown>): Promise<Record<string, { data: ArrayLike<number | bigint>; dims: readonly number[] }>>;
      release(): Promise<void>;
    }>;
  };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
}

const CLASSES = ['bolt', 'nut', 'washer', 'gear'];

async function saved(net: HffNetwork, dir: string): Promise<string> {
  await saveNetwork(dir, net);
  return dir;
}

function metadataOf(bytes: Uint8Array): Record<string, string> {
  const model = onnxProto().ModelProto.decode(bytes);
  return Object.fromEntries(model.metadataProps.map((p) => [String(p.key), String(p.value)]));
}

describe('hff export (ONNX)', function () {
  let ort: OrtModule;
  const engines: Record<string, Engine> = {};
  const train = blobs(200, 4, 16, 1);
  const test = blobs(64, 4, 16, 2);

  before(async function () {
    const a = onnxAvailability();
    if (!a.available) skipForEnvironment(this, `onnxruntime-node unavailable (${a.reason}); the export needs no runtime, its check does`);
    ort = require('onnxruntime-node') as OrtModule;
    engines.wasm = await createEngine('wasm');
    engines.onnx = await createEngine('onnx');
  });

  const cases: { name: string; extra: Record<string, unknown>; opset?: number }[] = [
    { name: 'one prototype per class, final-layer scoring', extra: {} },
    { name: 'three prototypes per class, sum scoring, tanh, opset 17', extra: { prototypesPerClass: 3, scoring: 'sum', activation: 'tanh' }, opset: 17 },
    { name: 'single layer, leaky-relu, no input normalisation', extra: { layers: [20], activation: 'leaky-relu', normalizeInput: false } },
    { name: 'no input centring (models written before it)', extra: { centerInput: false } },
    {
      name: 'two conv2d blocks (pooled, then not) under a dense layer, sum scoring, opset 17',
      extra: {
        inputShape: [4, 4, 1],
        layers: [{ kind: 'conv2d', filters: 6, kernel: 3, pool: 2 }, { kind: 'conv2d', filters: 5, kernel: 1, pool: 1 }, 12],
        scoring: 'sum',
      },
      opset: 17,
    },
  ];

  for (const c of cases) {
    it(`scores like the engines: ${c.name}`, async function () {
      const net = HffNetwork.create(engines.wasm, { inputSize: 16, layers: [32, 24], seed: 5, optimizer: { learningRate: 0.01 }, ...c.extra }, CLASSES);
      const dir = tempDir();
      try {
        await trainNetwork(net, train, { epochs: 1, batchSize: 32 });
        await saveNetwork(path.join(dir, 'model'), net);
        const out = path.join(dir, 'exported', 'model.onnx');
        const summary = await exportOnnx(path.join(dir, 'model'), out, c.opset ? { opset: c.opset } : {});
        assert.equal(summary.path, out);
        assert.equal(summary.bytes, fs.statSync(out).size);
        assert.deepEqual(summary.classes, CLASSES);
        assert.equal(summary.opset, c.opset ?? 13);
        assert.deepEqual(summary.outputs, ['scores', 'label', 'embedding']);

        const session = await ort.InferenceSession.create(out);
        try {
          assert.deepEqual([...session.inputNames], ['input']);
          const result = await session.run({ input: new ort.Tensor('float32', test.images, [test.n, 16]) });
          assert.deepEqual([...result.scores.dims], [test.n, CLASSES.length]);
          const scores = Float32Array.from(result.scores.data as Float32Array);
          const labels = Array.from(result.label.data, Number);
          for (const [name, engine] of Object.entries(engines)) {
            const loaded = HffNetwork.fromModelFiles(engine, net.toModelFiles());
            try {
              const predictions = loaded.predict(test.images, test.n, { topK: CLASSES.length });
              const expected = new Float32Array(test.n * CLASSES.length);
              predictions.forEach((p, b) => p.top.forEach((t) => (expected[b * CLASSES.length + t.index] = t.score)));
              const diff = maxAbsDiff(scores, expected);
              assert.ok(diff < 1e-4, `${name}: scores differ by ${diff}`);
              assert.deepEqual(
                labels,
                predictions.map((p) => p.index),
                `${name}: labels`,
              );
              const outputs = loaded.forward(test.images, test.n);
              const z = outputs[outputs.length - 1].z;
              assert.ok(maxAbsDiff(result.embedding.data as Float32Array, z) < 1e-4, `${name}: embedding`);
            } finally {
              loaded.dispose();
            }
          }
        } finally {
          await session.release();
        }

        const model = onnxProto().ModelProto.decode(fs.readFileSync(out));
        const meta = Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]));
        assert.deepEqual(JSON.parse(meta.classes as string), CLASSES);
        assert.equal(meta.hff_scoring, net.config.scoring);
        assert.equal(model.opsetImport[0].domain, '');
        assert.ok(Number(model.opsetImport[0].version) >= 13);
        // Only standard operators: any ONNX runtime can run the graph.
        assert.ok(
          model.graph?.node?.every((n) => !n.domain),
          'custom-domain operator found',
        );
      } finally {
        net.dispose();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('names taught classes in the metadata and warns that the teaching rules are not in the graph', async function () {
    const dir = tempDir();
    try {
      const net = HffNetwork.create(engines.wasm, { inputSize: 16, layers: [12], seed: 2 }, CLASSES);
      await trainNetwork(net, train, { epochs: 1, batchSize: 32 });
      const trained = networkToOnnx(net);
      const plain = await exportOnnx(await saved(net, path.join(dir, 'plain')), path.join(dir, 'plain.onnx'));
      assert.deepEqual([plain.taughtClasses, plain.warnings], [[], []]);
      assert.ok(!metadataOf(trained.bytes).hff_taught_classes);
      net.teach('bracket', test.images.subarray(0, 3 * 16), 3);
      const summary = await exportOnnx(await saved(net, path.join(dir, 'taught')), path.join(dir, 'taught.onnx'));
      assert.deepEqual(summary.taughtClasses, ['bracket']);
      assert.equal(summary.warnings.length, 1);
      assert.match(summary.warnings[0], /taught classes \(bracket\) are scored by plain cosine/);
      assert.equal(metadataOf(fs.readFileSync(path.join(dir, 'taught.onnx'))).hff_taught_classes, '["bracket"]');
      net.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects a model without classes, a bad opset and a missing model', async function () {
    const dir = tempDir();
    try {
      const empty = HffNetwork.create(engines.wasm, { inputSize: 8, layers: [4] }, []);
      assert.throws(() => networkToOnnx(empty), /no classes/);
      empty.dispose();
      const net = HffNetwork.create(engines.wasm, { inputSize: 8, layers: [4] }, ['a']);
      await saveNetwork(path.join(dir, 'one'), net);
      net.dispose();
      await assert.rejects(exportOnnx(path.join(dir, 'one'), path.join(dir, 'o.onnx'), { opset: 9 }), /opset must be/);
      await assert.rejects(exportOnnx(path.join(dir, 'missing'), path.join(dir, 'm.onnx')));
      assert.ok(!fs.existsSync(path.join(dir, 'o.onnx')));
      const ok = await exportOnnx(path.join(dir, 'one'), path.join(dir, 'one.onnx'), { embedding: false });
      assert.deepEqual(ok.outputs, ['scores', 'label']);
      assert.deepEqual(
        fs.readdirSync(dir).filter((f) => f.includes('.tmp-')),
        [],
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
