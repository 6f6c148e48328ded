/**
 * hff-train: trains the selected model from a dataset on disk (the library's readers) or from labelled messages
 * it buffered. Progress goes to the status and to output 2; the final metrics go to output 1 after the model
 * was saved. msg.topic 'cancel' stops a run (what was learned so far is kept and saved).
 */
import * as os from 'node:os';
import * as path from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { DATASET_NAMES, loadDataset, type Dataset, type DatasetName } from '../../src/datasets';
import { type Regularisation, resolveRegularisation } from '../../src/hff/config';
import type { HffNetwork } from '../../src/hff/network';
import { evaluateNetwork, geometryOf, trainNetwork, type LabelledData, type TrainProgress } from '../../src/hff/training';
import { translator } from '../shared/i18n';
import { findModel, followModel, requireModel } from '../shared/model-client';
import { handleInput } from '../shared/node-helpers';
import { numberSetting } from '../shared/settings';
import { ThrottledStatus, type StatusValue } from '../shared/status';
import { type LabelValue, readLabels, readVectors, toBatch } from '../shared/vectors';

interface HffTrainDef extends NodeDef {
  model?: string;
  source?: 'dataset' | 'messages';
  dataset?: DatasetName;
  dir?: string;
  limit?: string | number;
  epochs?: string | number;
  batchSize?: string | number;
  /** Random changes of the training images; empty: the library's default for the model's kind of images. */
  shift?: string | number;
  rotate?: string | number;
  scale?: string | number;
  evaluate?: boolean | string;
  bufferLimit?: string | number;
}

/** Demonstrations used to create (imprint) a class the model does not have yet, before training. */
const IMPRINT_EXAMPLES = 10;

/** Labelled rows with class names, from a dataset or the buffer. */
interface NamedData {
  n: number;
  inputSize: number;
  images: Float32Array;
  /** Per row, an index into `names`. */
  labels: Int32Array;
  names: readonly (string | number)[];
}

/** Copies up to `max` rows of one label into a block (the examples that create a new class). */
function rowsOf(data: NamedData, label: number, max: number): { examples: Float32Array; count: number } {
  const picked: number[] = [];
  for (let i = 0; i < data.n && picked.length < max; i++) if (data.labels[i] === label) picked.push(i);
  const size = data.inputSize;
  const examples = new Float32Array(picked.length * size);
  picked.forEach((r, i) => examples.set(data.images.subarray(r * size, (r + 1) * size), i * size));
  return { examples, count: picked.length };
}

/**
 * Maps the data's class names onto the model's classes, creating missing ones by teaching (imprinting) them from
 * a few of their examples; returns the data relabelled with model class indices and the classes created.
 */
function alignClasses(net: HffNetwork, data: NamedData, create: boolean): { data: LabelledData; created: string[] } {
  const present = new Set<number>(data.labels);
  if (create) {
    const names = new Set(net.classes);
    for (const label of present) {
      const name = data.names[label];
      names.add(typeof name === 'number' ? (net.classes[name] ?? String(name)) : name);
    }
    if (names.size < 2) {
      throw new Error(`training needs at least two classes; the model has only '${[...names].join("', '") || '(none)'}'`);
    }
  }
  const created: string[] = [];
  const map = data.names.map((name, label) => {
    const index = net.classIndex(name);
    if (index !== undefined || !present.has(label)) return index ?? -1;
    if (!create) return -1;
    const { examples, count } = rowsOf(data, label, IMPRINT_EXAMPLES);
    const taught = net.teach(name, examples, count, { mode: 'mean' });
    created.push(taught.label);
    return taught.index;
  });
  const keep: number[] = [];
  for (let i = 0; i < data.n; i++) if (map[data.labels[i]] >= 0) keep.push(i);
  if (keep.length === data.n) {
    return { data: { n: data.n, inputSize: data.inputSize, images: data.images, labels: Int32Array.from(data.labels, (l) => map[l]) }, created };
  }
  const size = data.inputSize;
  const images = new Float32Array(keep.length * size);
  keep.forEach((r, i) => images.set(data.images.subarray(r * size, (r + 1) * size), i * size));
  return { data: { n: keep.length, inputSize: size, images, labels: Int32Array.from(keep, (r) => map[data.labels[r]]) }, created };
}

function fromDataset(d: Dataset): NamedData {
  return { n: d.n, inputSize: d.inputSize, images: d.images, labels: d.labels, names: d.classes };
}

export = function register(RED: NodeAPI): void {
  function HffTrainNode(this: Node, def: HffTrainDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const t = translator(RED, 'hff-train', __dirname);
    const status = new ThrottledStatus(node);
    const model = findModel(RED, def.model);
    const source = def.source === 'messages' ? 'messages' : 'dataset';
    const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? path.join(os.homedir(), '.node-red');
    const evaluate = def.evaluate === true || String(def.evaluate) === 'true';
    const buffer: { vectors: Float32Array[]; labels: LabelValue[] } = { vectors: [], labels: [] };
    let bufferLimit = 10_000;
    let settingsProblem: Error | undefined;
    let epochs = 1;
    let batchSize: number | undefined;
    let limit: number | undefined;
    let geometry: Partial<Pick<Regularisation, 'shift' | 'rotate' | 'scale'>> = {};
    try {
      const count = { integer: true, min: 1 };
      epochs = numberSetting(def.epochs, 'epochs', count) ?? 1;
      batchSize = numberSetting(def.batchSize, 'batch size', count);
      limit = numberSetting(def.limit, 'limit', count);
      bufferLimit = numberSetting(def.bufferLimit, 'buffer limit', count) ?? bufferLimit;
      const given = {
        shift: numberSetting(def.shift, 'shift', { integer: true, min: 0 }),
        rotate: numberSetting(def.rotate, 'rotate', { min: 0, max: 180 }),
        scale: numberSetting(def.scale, 'scale', { min: 0 }),
      };
      geometry = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
      resolveRegularisation(undefined, geometry); // checks the ranges now, so that a bad value shows as bad settings
      if (source === 'dataset' && !DATASET_NAMES.includes(def.dataset as DatasetName)) {
        throw new Error(`dataset must be one of ${DATASET_NAMES.join(', ')}, got ${JSON.stringify(def.dataset)}`);
      }
    } catch (err) {
      settingsProblem = err as Error;
    }
    let running: { abort: AbortController; promise: Promise<unknown> } | undefined;
    let closing = false;
    /** The status of the last run (done, cancelled, failed), kept over the model's own status changes. */
    let outcome: StatusValue | undefined;
    /** Buffer operations and the start of a run are taken in arrival order, even while the model loads. */
    let order: Promise<unknown> = Promise.resolve();
    function inOrder<T>(step: () => Promise<T> | T): Promise<T> {
      const turn = order.then(step);
      order = turn.catch(() => undefined);
      return turn;
    }

    const unfollow = followModel(model, status, t, (state) => {
      if (running) return true;
      if (settingsProblem) {
        status.set({ colour: 'red', shape: 'ring', text: t('status.badConfig') }, true);
        return true;
      }
      if (state.phase !== 'ready') return false;
      if (outcome) {
        status.set(outcome, true);
        return true;
      }
      if (source === 'messages' && buffer.vectors.length > 0) {
        status.set({ colour: 'green', text: t('status.buffered', { n: buffer.vectors.length }) }, true);
        return true;
      }
      return false;
    });
    const stopOnModelClose = model?.onClosing(() => running?.abort.abort());

    async function loadNamedData(net: HffNetwork, split: 'train' | 'test'): Promise<NamedData> {
      if (source === 'messages') {
        if (buffer.vectors.length === 0) {
          throw new Error("no buffered samples: send messages with msg.topic 'sample', msg.payload and msg.label first");
        }
        const names: LabelValue[] = [];
        const ids = new Map<LabelValue, number>();
        const labels = Int32Array.from(buffer.labels, (l) => {
          if (!ids.has(l)) {
            ids.set(l, names.length);
            names.push(l);
          }
          return ids.get(l) as number;
        });
        const size = net.inputSize;
        const images = new Float32Array(buffer.vectors.length * size);
        buffer.vectors.forEach((v, i) => images.set(v, i * size));
        return { n: labels.length, inputSize: size, images, labels, names };
      }
      const shape = net.config.inputShape;
      const dataset = await loadDataset({
        name: def.dataset as DatasetName,
        dir: path.resolve(userDir, String(def.dir ?? '')),
        split,
        limit,
        ...(shape ? { height: shape[0], width: shape[1], channels: shape[2] as 1 | 3 } : {}),
      });
      return fromDataset(dataset);
    }

    async function train(msg: Record<string, unknown>, send: (m: unknown) => void, abort: AbortController): Promise<void> {
      const controller = requireModel(model);
      await controller.runJob('training', async () => {
        const net = await controller.ready();
        status.set({ colour: 'blue', shape: 'ring', text: t('status.loadingData') }, true);
        const named = await loadNamedData(net, 'train');
        const { data, created } = alignClasses(net, named, true);
        if (created.length > 0) controller.learned();
        const started = Date.now();
        const regularisation = resolveRegularisation(net.config.inputShape, geometry);
        const summary = await trainNetwork(net, data, {
          epochs,
          batchSize,
          ...geometry,
          signal: abort.signal,
          onProgress: (p: TrainProgress) => {
            status.set(
              {
                colour: 'blue',
                shape: 'ring',
                text: t('status.progress', { epoch: p.epoch, epochs: p.epochs, percent: Math.floor((100 * p.batch) / p.batches) }),
              },
              p.batch === p.batches,
            );
            send([null, { topic: 'progress', payload: { ...p } }]);
          },
        });
        controller.learned();
        let evaluation: Record<string, unknown> | undefined;
        if (!summary.cancelled && !abort.signal.aborted) {
          let on: 'train' | 'test' = 'train';
          let evalData = data;
          if (evaluate && source === 'dataset') {
            evalData = alignClasses(net, await loadNamedData(net, 'test'), false).data;
            on = 'test';
          }
          if (evalData.n > 0) {
            const e = await evaluateNetwork(net, evalData);
            evaluation = {
              on,
              accuracy: e.accuracy,
              n: e.n,
              correct: e.correct,
              unknownRate: e.unknownRate,
              perClass: e.perClass.map((a) => (Number.isFinite(a) ? a : null)),
            };
          }
        }
        await controller.save();
        const last = summary.epochs[summary.epochs.length - 1];
        const result = {
          cancelled: summary.cancelled,
          source: source === 'dataset' ? def.dataset : 'messages',
          n: data.n,
          epochs: summary.epochs,
          // Images are only changed when the model knows their shape.
          augmentation: net.config.inputShape ? geometryOf(regularisation) : null,
          loss: last?.loss ?? null,
          accuracy: last?.accuracy ?? null,
          evaluation: evaluation ?? null,
          classes: [...net.classes],
          created,
          version: net.version,
          seconds: (Date.now() - started) / 1000,
          dir: controller.dir,
        };
        outcome = summary.cancelled
          ? { colour: 'yellow', shape: 'dot', text: t('status.cancelled', { epochs: summary.epochs.length }) }
          : {
              colour: 'green',
              text: t('status.done', { accuracy: ((evaluation?.accuracy as number | undefined) ?? last?.accuracy ?? 0).toFixed(3) }),
            };
        status.set(outcome, true);
        send([{ ...msg, topic: 'trained', payload: result }, null]);
      });
    }

    handleInput<Record<string, unknown>>(node, async (msg, send) => {
      if (settingsProblem) throw new Error(`hff-train is misconfigured: ${settingsProblem.message}`);
      const topic = typeof msg.topic === 'string' ? msg.topic.trim().toLowerCase() : '';
      if (topic === 'cancel') {
        if (running) {
          running.abort.abort();
          status.set({ colour: 'yellow', shape: 'ring', text: t('status.cancelling') }, true);
        }
        return;
      }
      if (topic === 'clear') {
        await inOrder(() => {
          buffer.vectors = [];
          buffer.labels = [];
          outcome = undefined;
          status.set({ colour: 'green', text: t('status.buffered', { n: 0 }) }, true);
        });
        return;
      }
      const isSample = topic === 'sample' || (topic !== 'train' && msg.label !== undefined && msg.label !== null);
      if (isSample) {
        if (source !== 'messages') {
          throw new Error("this node trains from a dataset: set its source to 'buffered messages' to train from samples");
        }
        const net = requireModel(model);
        await inOrder(async () => {
          const ready = await net.ready();
          const { input } = readVectors(msg.payload);
          const { data, batch } = toBatch(input, ready.inputSize, 'msg.payload');
          const labels = readLabels(msg.label, batch);
          for (let r = 0; r < batch; r++) {
            buffer.vectors.push(data.slice(r * ready.inputSize, (r + 1) * ready.inputSize));
            buffer.labels.push(labels[r]);
          }
          const excess = buffer.vectors.length - bufferLimit;
          if (excess > 0) {
            buffer.vectors.splice(0, excess);
            buffer.labels.splice(0, excess);
          }
          outcome = undefined;
          if (!running) status.set({ colour: 'green', text: t('status.buffered', { n: buffer.vectors.length }) });
        });
        return;
      }
      // Samples sent before this message are in the buffer before training starts.
      await inOrder(() => undefined);
      if (closing) throw new Error('hff-train is closing');
      if (running) throw new Error("training is already running: send msg.topic 'cancel' to stop it first");
      const abort = new AbortController();
      const promise = train(msg, send, abort);
      running = { abort, promise };
      try {
        await promise;
      } catch (err) {
        outcome = { colour: 'red', shape: 'ring', text: t('status.failed') };
        status.set(outcome, true);
        throw err;
      } finally {
        running = undefined;
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closing = true;
      unfollow();
      stopOnModelClose?.();
      const current = running;
      current?.abort.abort();
      const finish = () => {
        status.close();
        done();
      };
      if (current) current.promise.then(finish, finish);
      else finish();
    });
  }

  RED.nodes.registerType('hff-train', HffTrainNode);
};
