/**
 * The fuzz harness (issue 18): seeded, reproducible generated messages, clean and hostile, into every hff node
 * that takes messages, in a real Node-RED runtime (node-red-node-test-helper runs Node-RED's own flow engine).
 * Each message is generated with what must happen to it: clean ones end in done(), hostile ones in done(err).
 * Every completion is counted through Node-RED's onComplete hook, so a message completed twice, never completed
 * (a silent drop) or completed the wrong way is seen. Used by test/fuzz/fuzz.test.ts and bench/fuzz.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NodeAPI } from 'node-red';
import sharp from 'sharp';
import { setRclnodejsModule, shutdownRos2, type RclnodejsModule } from '../../src/io';
import { seededRandom } from '../drift/streams';
import { pngDeclaring } from '../helpers/pictures';
import { createRclnodejsStandin } from '../helpers/rclnodejs-standin';
import { ALL_NODES, TAB, helper, helperNode, initNodeRed4, modelConfig, onTab, removeTempDirs, send, type FlowNode } from '../nodes/flow-helpers';
import { runtimeHooks, withHooks } from '../helpers/io';
import bagOutNode = require('../../nodes/hff-bag-out/hff-bag-out');
import ros2Node = require('../../nodes/hff-ros2/hff-ros2');
import ros2OutNode = require('../../nodes/hff-ros2-out/hff-ros2-out');

type Msg = Record<string, unknown>;
export type Target = 'image' | 'classify' | 'teach' | 'layer' | 'drift' | 'train' | 'bagout' | 'ros2out';
export const TARGETS: readonly Target[] = ['image', 'classify', 'teach', 'layer', 'drift', 'train', 'bagout', 'ros2out'];

/** A generated message and what must become of it. */
export interface Case {
  target: Target;
  msg: Msg;
  expect: 'ok' | 'error';
  /** What kind of message it is, for reports. */
  kind: string;
}

const SIZE = 16;
const CLASSES = ['a', 'b', 'c'];

/** Pictures made once: a few valid 4x4 PNG and JPEG files, and hostile ones. */
interface Pictures {
  valid: Buffer[];
  hugePng: Buffer;
}

async function makePictures(random: () => number): Promise<Pictures> {
  const valid: Buffer[] = [];
  for (let i = 0; i < 6; i++) {
    const raw = Buffer.from(Array.from({ length: 16 }, () => 1 + Math.floor(random() * 254)));
    const img = sharp(raw, { raw: { width: 4, height: 4, channels: 1 } });
    valid.push(await (i % 2 === 0 ? img.png() : img.jpeg()).toBuffer());
  }
  return { valid, hugePng: pngDeclaring(20000, 20000) };
}

/** Generates cases from a seed; the same seed gives the same cases. */
export class CaseGenerator {
  private readonly r: () => number;
  constructor(
    seed: number,
    private readonly pictures: Pictures,
  ) {
    this.r = seededRandom(seed);
  }

  private int(n: number): number {
    return Math.floor(this.r() * n);
  }
  private pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** A vector the model takes: finite values in [0, 1], never all zero. */
  cleanVector(): number[] {
    const v = Array.from({ length: SIZE }, () => Math.round(this.r() * 1000) / 1000);
    v[this.int(SIZE)] = 0.5 + this.r() / 2;
    return v;
  }

  private deep(depth: number): unknown {
    let v: unknown = this.cleanVector();
    for (let i = 0; i < depth; i++) v = this.r() < 0.5 ? [v] : { v };
    return v;
  }

  /** A payload every vector-taking node must refuse, with a name for reports. */
  hostileVector(): [string, unknown] {
    const v = this.cleanVector();
    switch (this.int(16)) {
      case 0: {
        let n = this.int(40);
        if (n === SIZE) n = 0;
        return ['wrong length', Array.from({ length: n }, () => this.r())];
      }
      case 1:
        v[this.int(SIZE)] = this.pick([NaN, Infinity, -Infinity]);
        return ['non-finite', v];
      case 2:
        v[this.int(SIZE)] = this.pick([1e39, -1e39, 3.5e38, 1.7e308, -Number.MAX_VALUE]);
        return ['outside float32', v];
      case 3:
        (v as unknown[])[this.int(SIZE)] = this.pick<unknown>(['1', null, undefined, {}, [], true]);
        return ['non-number element', v];
      case 4: {
        if (this.r() < 0.5) return ['sparse', new Array(this.pick([SIZE, 784]))];
        delete v[this.int(SIZE)];
        return ['sparse', v];
      }
      case 5:
        v[this.int(SIZE)] = 1e39;
        return ['JSON outside float32', JSON.stringify(v)];
      case 6:
        return ['bad JSON text', this.pick(['[1, 2,', 'hello', '', '{"a":1}', '[[]]', 'null'])];
      case 7:
        return ['random bytes', Buffer.from(Array.from({ length: this.int(64) }, () => this.int(256)))];
      case 8:
        return ['deep', this.deep(65 + this.int(60))];
      case 9:
        return ['not a vector', this.pick<unknown>([{}, { x: 1 }, 42, true, null, undefined, Symbol('s').toString()])];
      case 10: {
        const typed = Float64Array.from(v);
        typed[this.int(SIZE)] = 1e39;
        return ['Float64Array outside float32', typed];
      }
      case 11:
        return ['BigInt64Array', new BigInt64Array(SIZE)];
      case 12: {
        const rows: unknown[] = [this.cleanVector(), this.cleanVector(), this.cleanVector()];
        rows[this.int(3)] = this.hostileVector()[1];
        return ['batch with a bad row', rows];
      }
      case 13:
        // Rare: a Catch node's copy of a large array costs milliseconds.
        return this.r() < 0.05 ? ['huge', new Array(100_000).fill(0.5)] : ['long', new Array(SIZE + 1 + this.int(1000)).fill(0.5)];
      case 14:
        return ['empty', this.pick<unknown>([[], new Float32Array(0)])];
      default: {
        const f = Float32Array.from(v);
        f[this.int(SIZE)] = NaN;
        return ['Float32Array NaN', f];
      }
    }
  }

  /** A vector payload that must be accepted. */
  cleanPayload(): [string, unknown] {
    switch (this.int(5)) {
      case 0:
        return ['vector', this.cleanVector()];
      case 1:
        return ['Float32Array', Float32Array.from(this.cleanVector())];
      case 2:
        return ['batch', Array.from({ length: 1 + this.int(5) }, () => this.cleanVector())];
      case 3:
        return ['JSON text', JSON.stringify(this.cleanVector())];
      default:
        return ['Uint8Array', Uint8Array.from(this.cleanVector(), (x) => 1 + Math.round(x * 200))];
    }
  }

  /** A label no node may accept as a class name. */
  hostileLabel(): [string, unknown] {
    return this.pick<[string, unknown]>([
      ['__proto__', '__proto__'],
      ['constructor', 'constructor'],
      ['prototype', 'prototype'],
      ['long', 'x'.repeat(201 + this.int(2_000))],
      // Inside the name: rename trims its new name, and a trimmed name would be valid.
      ['control character', `bo${String.fromCharCode(this.int(32))}lt`],
      ['object label', { name: 'a' }],
      ['label array of wrong length', ['a', 'b', 'c', 'a', 'b', 'c', 'a']],
      ['empty label', ''],
      ['negative index', -1],
      ['fractional index', 1.5],
      ['index out of range', 99],
      ['boolean label', true],
    ]);
  }

  next(): Case {
    const target = this.pick<Target>(['image', 'classify', 'classify', 'teach', 'teach', 'layer', 'layer', 'drift', 'drift', 'train', 'bagout', 'ros2out']);
    return this[target]();
  }

  image(): Case {
    const c = (kind: string, payload: unknown, expect: 'ok' | 'error'): Case => ({ target: 'image', msg: { payload }, expect, kind });
    const p = this.pictures;
    switch (this.int(12)) {
      case 0:
      case 1:
        return c('picture', this.pick(p.valid), 'ok');
      case 2:
        return c(
          'sensor_msgs/Image',
          { width: 4, height: 4, encoding: 'mono8', step: 4, data: Buffer.from(Array.from({ length: 16 }, () => this.int(256))) },
          'ok',
        );
      case 3:
        return c('number array', this.cleanVector(), 'ok');
      case 4: {
        const pic = this.pick(p.valid);
        return c('truncated picture', pic.subarray(0, 8 + this.int(pic.length - 20)), 'error');
      }
      case 5:
        return c('huge picture', p.hugePng, 'error');
      case 6:
        return c(
          'sensor_msgs/Image size mismatch',
          { width: 4 + this.int(3), height: 5, encoding: this.pick(['mono8', 'rgb8']), step: 4, data: Buffer.alloc(16) },
          'error',
        );
      case 7:
        return c(
          'hostile encoding',
          { width: 1, height: 1, encoding: this.pick(['__proto__', 'constructor', 'toString', 'yuv']), step: 1, data: [1] },
          'error',
        );
      case 8:
        return c('JSON Buffer of random bytes', { type: 'Buffer', data: Array.from({ length: 4 + this.int(60) }, () => this.int(256)) }, 'error');
      case 9: {
        const [kind, payload] = this.hostileVector();
        // An empty Float32Array or a Uint8Array of random bytes is another thing for hff-image; keep to arrays.
        return c(`vector: ${kind}`, Array.isArray(payload) && !kind.includes('batch') && kind !== 'sparse' ? payload : this.deep(70), 'error');
      }
      case 10:
        return c('string', this.pick(['hello', '{bad json', '[1,2']), 'error');
      default:
        return c('deep', this.deep(65 + this.int(100)), 'error');
    }
  }

  classify(): Case {
    if (this.r() < 0.5) {
      const [kind, payload] = this.cleanPayload();
      return { target: 'classify', msg: { payload }, expect: 'ok', kind };
    }
    const [kind, payload] = this.hostileVector();
    return { target: 'classify', msg: { payload }, expect: 'error', kind };
  }

  /** Nothing here may teach: every message is hostile, or a command that leaves the classes as they are. */
  teach(): Case {
    switch (this.int(6)) {
      case 0:
      case 1: {
        const [kind, payload] = this.hostileVector();
        return { target: 'teach', msg: { payload, label: this.pick(CLASSES) }, expect: 'error', kind };
      }
      case 2: {
        const [kind, label] = this.hostileLabel();
        return { target: 'teach', msg: { payload: this.cleanVector(), label }, expect: 'error', kind: `label: ${kind}` };
      }
      case 3:
        return { target: 'teach', msg: { payload: new Array(SIZE).fill(0), label: this.pick(CLASSES) }, expect: 'error', kind: 'all zeros' };
      case 4: {
        const [kind, label] = this.hostileLabel();
        return this.r() < 0.5
          ? {
              target: 'teach',
              msg: { topic: 'forget', label: typeof label === 'string' && label.length < 100 ? `${label}-unknown` : label },
              expect: 'error',
              kind: `forget ${kind}`,
            }
          : { target: 'teach', msg: { topic: 'rename', label: this.pick(CLASSES), payload: label }, expect: 'error', kind: `rename to ${kind}` };
      }
      default:
        return { target: 'teach', msg: { topic: 'rename', label: 'no-such-class', payload: 'z' }, expect: 'error', kind: 'rename unknown' };
    }
  }

  /** Forward passes (no label: nothing learned) and hostile training messages. */
  layer(): Case {
    if (this.r() < 0.4) {
      const [kind, payload] = this.cleanPayload();
      return { target: 'layer', msg: { payload }, expect: 'ok', kind };
    }
    if (this.r() < 0.5) {
      const [kind, label] = this.hostileLabel();
      return {
        target: 'layer',
        msg: { payload: this.cleanVector(), label: kind === 'empty label' ? 'no-such-class' : label },
        expect: 'error',
        kind: `label: ${kind}`,
      };
    }
    const [kind, payload] = this.hostileVector();
    return { target: 'layer', msg: { payload, label: this.pick(CLASSES) }, expect: 'error', kind };
  }

  drift(): Case {
    const c = (kind: string, msg: Msg, expect: 'ok' | 'error'): Case => ({ target: 'drift', msg, expect, kind });
    switch (this.int(14)) {
      case 0:
      case 1:
      case 2:
        return c('score', { payload: this.r() }, 'ok');
      case 3:
        return c('result', { payload: { label: 'a', index: 0, score: this.r(), known: true } }, 'ok');
      case 4:
        return c('batch of scores', { payload: Array.from({ length: 1 + this.int(10) }, () => this.r()) }, 'ok');
      case 5:
        return c('numeric string', { payload: String(this.r()) }, 'ok');
      case 6:
        return c('non-finite', { payload: this.pick([NaN, Infinity, -Infinity]) }, 'error');
      case 7:
        return c('out of range', { payload: this.pick([1.7e308, -1.7e308, 1e13, -5e15]) }, 'error');
      case 8:
        return c('bad score', { payload: { score: this.pick<unknown>(['x', null, NaN, 1e300, {}]) } }, 'error');
      case 9:
        return c('not a number', { payload: this.pick<unknown>(['abc', null, undefined, {}, true, [[1]]]) }, 'error');
      case 10:
        return c('batch with a bad value', { payload: [0.5, this.pick<unknown>([NaN, 'x', 1e300, null]), 0.4] }, 'error');
      case 11:
        return this.r() < 0.02 ? c('huge array', { payload: new Array(100_001).fill(0.5) }, 'error') : c('empty array', { payload: [] }, 'error');
      case 12:
        return c('sparse', { payload: new Array(1 + this.int(100)) }, 'error');
      default:
        return c('deep', { payload: this.deep(65 + this.int(100)) }, 'error');
    }
  }

  /** Nothing may be buffered (so that nothing is ever trained): samples are hostile. */
  train(): Case {
    const roll = this.int(10);
    if (roll === 0) return { target: 'train', msg: { topic: 'train' }, expect: 'error', kind: 'train with an empty buffer' };
    if (roll === 1) return { target: 'train', msg: { topic: this.pick(['cancel', 'clear']) }, expect: 'ok', kind: 'command' };
    if (roll < 5) {
      const [kind, label] = this.hostileLabel();
      if (
        typeof label === 'number' ||
        kind === 'label array of wrong length' ||
        kind === 'boolean label' ||
        kind === 'object label' ||
        kind === 'empty label' ||
        typeof label === 'string'
      ) {
        // Numbers name classes by index: a buffered sample with one would be accepted (the index is checked when training starts).
        const l = typeof label === 'number' ? 'bad\u0001name' : label;
        return { target: 'train', msg: { topic: 'sample', payload: this.cleanVector(), label: l }, expect: 'error', kind: `label: ${kind}` };
      }
    }
    const [kind, payload] = this.hostileVector();
    return { target: 'train', msg: { topic: 'sample', payload, label: this.pick(CLASSES) }, expect: 'error', kind };
  }

  bagout(): Case {
    switch (this.int(8)) {
      case 0:
      case 1:
      case 2:
        return { target: 'bagout', msg: { topic: '/fuzz/text', payload: `frame ${this.int(1e6)}` }, expect: 'ok', kind: 'text' };
      case 3:
        return { target: 'bagout', msg: { topic: this.pick(['relative', '', 'a/b']), payload: 'x' }, expect: 'error', kind: 'relative topic' };
      case 4:
        return {
          target: 'bagout',
          msg: { topic: 'start', payload: this.pick<unknown>(['../escape.mcap', '/tmp/hff-fuzz-escape.mcap', { file: 'a/../../escape.mcap' }]) },
          expect: 'error',
          kind: 'start outside the folder',
        };
      case 5:
        return { target: 'bagout', msg: { topic: '/fuzz/obj', payload: { a: this.r() } }, expect: 'error', kind: 'no message type' };
      case 6:
        return { target: 'bagout', msg: { topic: '/fuzz/text', payload: this.deep(65 + this.int(50)) }, expect: 'error', kind: 'deep' };
      default:
        return {
          target: 'bagout',
          msg: { topic: '/fuzz/img', ros: { type: 'sensor_msgs/msg/Image' }, payload: 'not an image' },
          expect: 'error',
          kind: 'text for a message type',
        };
    }
  }

  ros2out(): Case {
    switch (this.int(6)) {
      case 0:
      case 1:
        return { target: 'ros2out', msg: { payload: `result ${this.int(1e6)}` }, expect: 'ok', kind: 'text' };
      case 2:
        return { target: 'ros2out', msg: { payload: { label: 'a', score: this.r() } }, expect: 'ok', kind: 'object as JSON text' };
      case 3: {
        const circular: Msg = { a: 1 };
        circular.self = circular;
        return { target: 'ros2out', msg: { payload: circular }, expect: 'error', kind: 'circular' };
      }
      case 4:
        return { target: 'ros2out', msg: { payload: undefined }, expect: 'error', kind: 'nothing' };
      default:
        return { target: 'ros2out', msg: { payload: this.deep(65 + this.int(50)) }, expect: 'error', kind: 'deep' };
    }
  }
}

export interface FuzzOptions {
  messages: number;
  seed: number;
  /** Called every `every` completed messages (for progress figures). */
  onProgress?: (stats: FuzzStats) => void;
  every?: number;
}

export interface FuzzStats {
  sent: number;
  completed: number;
  /** Messages that ended in done(err) (each also reached the Catch node in scope). */
  errors: number;
  caught: number;
  /** Messages completed more than once. */
  duplicates: number;
  /** Clean messages refused, or hostile ones accepted, by kind. */
  wrong: { target: Target; kind: string; expect: string; error?: string }[];
  /** Messages never completed. */
  silentDrops: number;
  seconds: number;
  byTarget: Record<string, { sent: number; errors: number }>;
  /** Probe classifications before and after, for "clean input classifies exactly as before". */
  probesBefore: unknown[];
  probesAfter: unknown[];
  tensorsBefore?: number;
  tensorsAfter?: number;
}

type FuzzHookEvent = { msg: Msg; error?: Error; node: { id: string } };
interface Hooks {
  add(name: string, fn: (event: FuzzHookEvent) => void): void;
  remove(name: string): void;
}

/** The flow: every target node of one model, plus a separate classify node for the probes. */
function fuzzFlow(bagDir: string): FlowNode[] {
  const none: never[][] = [[]];
  return [
    TAB,
    modelConfig({ inputSize: 16, inputShape: '4x4x1', layers: '16,16', saveDelay: 60_000 }),
    { id: 'ros', type: 'hff-ros2', transport: 'rclnodejs', domain: '7', nodeName: 'hff_fuzz', namespace: '', url: '' },
    onTab({ id: 'image', type: 'hff-image', model: 'model', width: 4, height: 4, channels: 1, fit: 'fill', centerCrop: 1, normalize: 'unit', wires: none }),
    onTab({ id: 'classify', type: 'hff-classify', model: 'model', wires: [[], []] }),
    onTab({ id: 'probe', type: 'hff-classify', model: 'model', wires: [['probed'], ['probed']] }),
    onTab({ id: 'teach', type: 'hff-teach', model: 'model', mode: 'mean', wires: [['taught']] }),
    onTab({ id: 'layer', type: 'hff-layer', model: 'model', layer: 0, learn: true, wires: none }),
    onTab({ id: 'drift', type: 'hff-drift', detector: 'page-hinkley', direction: 'down', wires: [[], []] }),
    onTab({ id: 'train', type: 'hff-train', model: 'model', source: 'messages', epochs: 1, bufferLimit: 100, wires: [[], []] }),
    onTab({
      id: 'bagout',
      type: 'hff-bag-out',
      file: path.join(bagDir, 'fuzz.mcap'),
      folder: bagDir,
      topic: '',
      msgType: '',
      time: 'now',
      overwrite: true,
      autostart: true,
      wires: none,
    }),
    onTab({
      id: 'ros2out',
      type: 'hff-ros2-out',
      ros2: 'ros',
      topic: '/hff/fuzz',
      msgType: 'std_msgs/msg/String',
      reliability: 'reliable',
      depth: 10,
      durability: 'volatile',
      wires: none,
    }),
    { id: 'catch', type: 'catch', z: 'tab', x: 100, y: 300, scope: null, uncaught: false, wires: [['caught']] },
    helperNode('caught'),
    helperNode('probed'),
    helperNode('taught'),
  ];
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`fuzz: timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/** Live tfjs tensors (the tfjs engines'; undefined when tfjs is not loaded). */
export function tensorCount(): number | undefined {
  try {
    return (require('@tensorflow/tfjs') as { memory(): { numTensors: number } }).memory().numTensors;
  } catch {
    return undefined;
  }
}

/** Sets up the runtime, teaches three classes, runs the cases and returns the figures; always unloads. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzStats> {
  const userDir = initNodeRed4();
  const bagDir = path.join(userDir, 'bags');
  fs.mkdirSync(bagDir, { recursive: true });
  await shutdownRos2();
  setRclnodejsModule(createRclnodejsStandin() as unknown as RclnodejsModule);
  const nodes = [...ALL_NODES, bagOutNode, ros2Node, ros2OutNode].map((m) => withHooks(m as (RED: NodeAPI) => void));
  await helper.load(nodes, fuzzFlow(bagDir));
  const hooks = runtimeHooks() as Hooks;
  const sandbox = (helper as unknown as { _sandbox: { resetHistory(): void } })._sandbox;
  // One counter per message id: a second completion is a duplicate, none at the end a silent drop.
  const completions = new Uint8Array(options.messages + 1);
  const pending = new Map<number, Case>();
  const stats: FuzzStats = {
    sent: 0,
    completed: 0,
    errors: 0,
    caught: 0,
    duplicates: 0,
    wrong: [],
    silentDrops: 0,
    seconds: 0,
    byTarget: Object.fromEntries(TARGETS.map((t) => [t, { sent: 0, errors: 0 }])),
    probesBefore: [],
    probesAfter: [],
  };
  const probed: Msg[] = [];
  const taught: Msg[] = [];
  (helper.getNode('probed') as unknown as { on(e: string, l: (m: Msg) => void): void }).on('input', (m) => probed.push(m));
  (helper.getNode('taught') as unknown as { on(e: string, l: (m: Msg) => void): void }).on('input', (m) => taught.push(m));
  (helper.getNode('caught') as unknown as { on(e: string, l: (m: Msg) => void): void }).on('input', () => {
    stats.caught++;
  });
  const targetIds = new Set<string>(TARGETS);
  hooks.add('onComplete.hffFuzz', (event) => {
    const id = event.msg?.fuzzId;
    // The Catch node completes its copy of a refused message too: only the target nodes' completions count.
    if (typeof id !== 'number' || !targetIds.has(event.node.id)) return;
    if (id < 1 || id > options.messages) return;
    completions[id] = Math.min(255, completions[id] + 1);
    if (completions[id] > 1) {
      stats.duplicates++;
      return;
    }
    stats.completed++;
    const c = pending.get(id);
    pending.delete(id);
    if (!c) return;
    if (event.error) {
      stats.errors++;
      stats.byTarget[c.target].errors++;
    }
    const gotError = event.error !== undefined;
    if (gotError !== (c.expect === 'error') && stats.wrong.length < 50) {
      stats.wrong.push({ target: c.target, kind: c.kind, expect: c.expect, error: event.error?.message.slice(0, 200) });
    }
  });
  const random = seededRandom(options.seed);
  try {
    // Three classes taught on purpose, then probes whose results must not change.
    for (const [i, label] of CLASSES.entries()) {
      send('teach', { payload: [0, 1, 2].map((k) => Array.from({ length: SIZE }, (_, j) => Math.abs(Math.sin((i + 1) * 7.1 + j * (k + 1.3))))), label });
    }
    await until('the classes to be taught', () => taught.length === CLASSES.length, 30_000);
    const probes = Array.from({ length: 24 }, () => Array.from({ length: SIZE }, () => random()));
    const probe = async (): Promise<unknown[]> => {
      probed.length = 0;
      for (const p of probes) send('probe', { payload: p });
      await until('probe results', () => probed.length === probes.length, 30_000);
      return probed.map((m) => m.payload);
    };
    stats.probesBefore = await probe();
    stats.tensorsBefore = tensorCount();

    const generator = new CaseGenerator(options.seed, await makePictures(random));
    const start = Date.now();
    const every = options.every ?? 10_000;
    const window = 256;
    for (let id = 1; id <= options.messages; id++) {
      const c = generator.next();
      c.msg.fuzzId = id;
      pending.set(id, c);
      stats.sent++;
      stats.byTarget[c.target].sent++;
      send(c.target, c.msg);
      if (id - stats.completed >= window) await until('messages to complete', () => id - stats.completed < window / 2, 60_000);
      // The test helper records every node method call (with its message); forget them so that the record does not grow.
      if (id % 2000 === 0) sandbox.resetHistory();
      if (id % every === 0) {
        stats.seconds = (Date.now() - start) / 1000;
        options.onProgress?.(stats);
      }
    }
    await until('the last messages to complete', () => stats.completed === stats.sent, 60_000).catch(() => undefined);
    // A moment more, so that a late second completion would still be counted.
    await new Promise((r) => setTimeout(r, 200));
    stats.seconds = (Date.now() - start) / 1000;
    stats.silentDrops = stats.sent - stats.completed;
    stats.probesAfter = await probe();
    stats.tensorsAfter = tensorCount();
    return stats;
  } finally {
    hooks.remove('onComplete.hffFuzz');
    await helper.unload();
    await shutdownRos2();
    setRclnodejsModule(undefined);
    removeTempDirs();
  }
}
