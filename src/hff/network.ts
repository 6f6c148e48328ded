import type { Engine, EngineLayer, LayerParams, LayerSpec } from '../engines/types';
import type { ModelFiles, NamedTensor } from '../model-file';
import { type NetworkConfig, type NetworkOptions, type Scoring, resolveConfig } from './config';
import { SeededRandom } from './random';
import { type TeachSelection, TransferBranch, augmentDemonstrations, leaveOneOutScore } from './teaching';
import { assertClassName } from './class-names';
import { assertFinite, dot, normalizeInPlace, randomUnitRows, row } from './vectors';

export const MODEL_KIND = 'hff-network';

export interface ClassScore {
  label: string;
  index: number;
  score: number;
}

export interface Prediction {
  label: string;
  index: number;
  /** Cosine similarity of the input's representation to the winning class's closest prototype. */
  score: number;
  /** Score of the winner minus the runner-up's. */
  margin: number;
  known: boolean;
  top: ClassScore[];
}

export interface PredictOptions {
  topK?: number;
  scoring?: Scoring;
  unknownThreshold?: number;
}

export interface LayerOutput {
  /** batch x units unit vectors. */
  z: Float32Array;
  /** batch x classes: per class, the cosine of its closest prototype. */
  classScores: Float32Array;
  /**
   * Only on the first layer's output of `forward`, when taught classes are ranked by the random transfer branch:
   * batch x classes cosines to the taught classes' transfer prototypes (NaN for trained classes).
   */
  transferScores?: Float32Array;
}

export interface TrainBatchResult {
  /** Local loss of each layer. */
  losses: number[];
  /** Rows the final layer classified right (before this step's update). */
  correct: number;
}

export type TeachMode = 'ema' | 'mean';

export interface TeachOptions {
  /** 'mean': count-weighted mean of every demonstration so far (capped by meanOf); 'ema': move by `rate`. */
  mode?: TeachMode;
  rate?: number;
  /** With mode 'mean': only the first N demonstrations shape the prototype; later ones are ignored. */
  meanOf?: number;
}

export interface TeachResult {
  label: string;
  index: number;
  created: boolean;
  /** Demonstrations that shaped this class so far. */
  count: number;
  /** Demonstrations in this call that changed the prototype (0 when past meanOf). */
  applied: number;
  mode: TeachMode;
  version: number;
  /** Per layer, cosine between the demonstrations' mean and the class prototype before the update (null if new). */
  similarityBefore: (number | null)[];
  /** Per layer, the sum of the applied demonstrations' unit representations (what fleet sharing merges). */
  sums: Float32Array[];
}

/**
 * A sample of the trained classes' inputs as the scoring layers see them, kept to calibrate taught classes against
 * trained ones (teaching.maxTrainedLoss). An input's familiarity is the larger of its best similarity to a trained
 * class and its similarity to the nearest reference input; a taught class takes an input only when its similarity
 * beats that familiarity by the class's offset, set so that it would take only its share of the reference inputs.
 * Valid while the weights do not change (training drops it).
 */
export interface TrainedReference {
  samples: number;
  /** Indices of the layers whose representations are kept (the decision's scoring layers). */
  layers: number[];
  /** Per kept layer: samples x units. */
  z: Float32Array[];
  /** Per sample: its familiarity, with the nearest other reference input (leave one out). */
  familiarity: Float32Array;
}

export interface NetworkMetadata {
  [key: string]: unknown;
}

/** An input batch as plain numbers: one vector, or an array of vectors. */
export type VectorInput = Float32Array | number[] | ArrayLike<number>[];

/**
 * A Hyperspherical Forward-Forward network: a stack of layers, each trained by its own prototype loss on the
 * detached output of the layer below, and predicting in one forward pass.
 */
export class HffNetwork {
  readonly config: NetworkConfig;
  readonly classes: string[];
  /** Training examples or demonstrations seen per class. */
  readonly counts: number[];
  /** Increases with every change of weights or prototypes. */
  version: number;
  metadata: NetworkMetadata;
  private readonly layers: EngineLayer[];
  private disposed = false;
  /** Per class: the kept demonstrations (rows of inputSize) of a taught (imprinted) class, or null for trained classes. */
  private taughtDemos: (Float32Array | null)[];
  /** Which representation ranks taught classes among themselves (null: the decision scores, as for trained classes). */
  private teachSelection: TeachSelection | null = null;
  private transferBranch: TransferBranch | undefined;
  private transferCache: { version: number; prototypes: Float32Array } | undefined;
  private offsetCache: { version: number; offsets: Float64Array } | undefined;
  /** See TrainedReference; undefined until trainNetwork stores one, and again after further training. */
  private reference: TrainedReference | undefined;
  /** Leave-one-out scores of the last representation choice (diagnostics). */
  lastSelectionScores: Record<string, number> = {};

  private constructor(
    readonly engine: Engine,
    config: NetworkConfig,
    classes: string[],
    counts: number[],
    version: number,
    metadata: NetworkMetadata,
    params: LayerParams[],
  ) {
    this.config = config;
    this.classes = classes;
    this.counts = counts;
    this.version = version;
    this.metadata = metadata;
    this.layers = params.map((p, i) => engine.createLayer(layerSpec(config, i), p, config.optimizer));
    this.taughtDemos = classes.map(() => null);
  }

  /** A freshly initialised network (seeded, so the same seed gives the same weights on every backend). */
  static create(engine: Engine, options: NetworkOptions, classes: string[] = []): HffNetwork {
    const config = resolveConfig(options);
    checkClassNames(classes);
    const random = new SeededRandom(config.seed);
    const gaussian = () => random.gaussian();
    const params: LayerParams[] = [];
    let inputSize = config.inputSize;
    for (const units of config.layers) {
      // He initialisation keeps ReLU activations alive at every depth.
      const scale = Math.sqrt(2 / inputSize);
      const weight = new Float32Array(inputSize * units);
      for (let i = 0; i < weight.length; i++) weight[i] = gaussian() * scale;
      params.push({
        weight,
        bias: new Float32Array(units),
        prototypes: randomUnitRows(classes.length * config.prototypesPerClass, units, gaussian),
      });
      inputSize = units;
    }
    return new HffNetwork(engine, config, [...classes], classes.map(() => 0), 0, {}, params);
  }

  /** Rebuilds a network from model files, validating shapes against the architecture. */
  static fromModelFiles(engine: Engine, files: ModelFiles, source = 'model'): HffNetwork {
    const m = files.manifest as Record<string, unknown>;
    if (m.kind !== MODEL_KIND) throw new Error(`${source}: not an HFF network (kind ${JSON.stringify(m.kind)})`);
    let config: NetworkConfig;
    try {
      // Files from before input centring existed were trained (and taught) without it.
      const stored = m.config as NetworkOptions;
      config = resolveConfig({ centerInput: false, ...stored, teaching: { transferCenterInput: false, ...stored?.teaching } });
    } catch (err) {
      throw new Error(`${source}: invalid architecture: ${(err as Error).message}`);
    }
    const classes = m.classes as string[];
    const counts = m.counts as number[];
    if (!Array.isArray(classes) || !Array.isArray(counts) || classes.length !== counts.length) {
      throw new Error(`${source}: classes and counts must be arrays of the same length`);
    }
    checkClassNames(classes);
    const badCount = counts.findIndex((c) => typeof c !== 'number' || !Number.isSafeInteger(c) || c < 0);
    if (badCount >= 0) throw new Error(`${source}: counts[${badCount}] is ${JSON.stringify(counts[badCount])}, expected a whole number of demonstrations >= 0`);
    const params: LayerParams[] = [];
    let inputSize = config.inputSize;
    config.layers.forEach((units, i) => {
      const want: Record<string, number[]> = {
        weight: [inputSize, units],
        bias: [units],
        prototypes: [classes.length * config.prototypesPerClass, units],
      };
      const got: Record<string, Float32Array> = {};
      for (const [part, shape] of Object.entries(want)) {
        const name = `layers.${i}.${part}`;
        const tensor = files.tensors[name];
        if (!tensor) throw new Error(`${source}: tensor ${name} is missing`);
        if (tensor.shape.length !== shape.length || tensor.shape.some((d: number, j: number) => d !== shape[j])) {
          throw new Error(`${source}: tensor ${name} has shape [${tensor.shape}] but the architecture needs [${shape}]`);
        }
        got[part] = tensor.data;
      }
      params.push({ weight: got.weight, bias: got.bias, prototypes: got.prototypes });
      inputSize = units;
    });
    const version = typeof m.version === 'number' ? m.version : 0;
    const net = new HffNetwork(engine, config, [...classes], [...counts], version, (m.metadata as NetworkMetadata) ?? {}, params);
    if (m.trainedReference !== undefined) net.reference = readReference(m.trainedReference, files, config, source);
    const taught = m.taught as { demos?: unknown; selection?: unknown } | undefined;
    if (taught && Array.isArray(taught.demos)) {
      const perClass = taught.demos as number[];
      const tensor = files.tensors['teach.demos'];
      const total = perClass.reduce((a, b) => a + b, 0);
      if (perClass.length !== classes.length || perClass.some((d) => !Number.isInteger(d) || d < 0)) {
        throw new Error(`${source}: taught.demos must give a count of kept demonstrations per class`);
      }
      if (total > 0 && (!tensor || tensor.shape.length !== 2 || tensor.shape[0] !== total || tensor.shape[1] !== config.inputSize)) {
        throw new Error(`${source}: tensor teach.demos must have shape [${total}, ${config.inputSize}]`);
      }
      let offset = 0;
      perClass.forEach((d, c) => {
        if (d > 0) net.taughtDemos[c] = Float32Array.from(tensor.data.subarray(offset * config.inputSize, (offset + d) * config.inputSize));
        offset += d;
      });
      const sel = taught.selection as TeachSelection | null | undefined;
      if (sel && (sel.kind === 'transfer' || sel.kind === 'layers' || (sel.kind === 'trained' && Number.isInteger(sel.layer) && sel.layer >= 0 && sel.layer < config.layers.length))) {
        net.teachSelection = sel.kind === 'transfer' && config.teaching.transferLayers.length === 0 ? null : sel;
      }
    }
    return net;
  }

  toModelFiles(): ModelFiles {
    const tensors: Record<string, NamedTensor> = {};
    this.layers.forEach((layer, i) => {
      const p = layer.readParams();
      tensors[`layers.${i}.weight`] = { shape: [layer.spec.inputSize, layer.spec.units], data: p.weight };
      tensors[`layers.${i}.bias`] = { shape: [layer.spec.units], data: p.bias };
      tensors[`layers.${i}.prototypes`] = { shape: [layer.prototypeRows, layer.spec.units], data: p.prototypes };
    });
    // A snapshot: the caller may keep it while the network goes on learning (stores, the model node's baseline).
    const manifest: Record<string, unknown> = {
      kind: MODEL_KIND,
      config: structuredClone(this.config),
      classes: [...this.classes],
      counts: [...this.counts],
      version: this.version,
      engine: this.engine.name,
      metadata: structuredClone(this.metadata),
    };
    if (this.reference) {
      const r = this.reference;
      manifest.trainedReference = { samples: r.samples, layers: [...r.layers] };
      tensors['trainedReference.familiarity'] = { shape: [r.samples], data: Float32Array.from(r.familiarity) };
      r.layers.forEach((l, i) => {
        tensors[`trainedReference.layers.${l}.z`] = { shape: [r.samples, this.layers[l].spec.units], data: Float32Array.from(r.z[i]) };
      });
    }
    if (this.hasTaughtClasses()) {
      const perClass = this.taughtDemos.map((d) => (d ? d.length / this.config.inputSize : 0));
      const total = perClass.reduce((a, b) => a + b, 0);
      const data = new Float32Array(total * this.config.inputSize);
      let offset = 0;
      for (const d of this.taughtDemos) {
        if (!d) continue;
        data.set(d, offset);
        offset += d.length;
      }
      tensors['teach.demos'] = { shape: [total, this.config.inputSize], data };
      manifest.taught = { demos: perClass, selection: structuredClone(this.teachSelection) };
    }
    return { manifest, tensors };
  }

  get inputSize(): number {
    return this.config.inputSize;
  }

  get layerCount(): number {
    return this.layers.length;
  }

  layerInputSize(layer: number): number {
    return this.layerAt(layer).spec.inputSize;
  }

  /** Turns a vector or an array of vectors into one row-major batch, checking length and finiteness. */
  toBatch(input: VectorInput, size = this.config.inputSize, what = 'input'): { data: Float32Array; batch: number } {
    if (Array.isArray(input) && input.length === 0) throw new Error(`${what}: expected a vector or a non-empty array of vectors`);
    const rows: ArrayLike<number>[] =
      input instanceof Float32Array || (Array.isArray(input) && (input.length === 0 || typeof input[0] === 'number'))
        ? [input as ArrayLike<number>]
        : (input as ArrayLike<number>[]);
    if (!Array.isArray(rows) || rows.length === 0) throw new Error(`${what}: expected a vector or a non-empty array of vectors`);
    const data = new Float32Array(rows.length * size);
    rows.forEach((r, i) => {
      if (!r || typeof r.length !== 'number') throw new Error(`${what}: row ${i} is not a vector`);
      if (r.length !== size) {
        throw new Error(`${what}: expected a vector of length ${size}, got length ${r.length}${rows.length > 1 ? ` in row ${i}` : ''}`);
      }
      assertFinite(rows.length > 1 ? `${what} row ${i}` : what, r);
      data.set(r, i * size);
    });
    return { data, batch: rows.length };
  }

  /** Resolves a class by name or index; undefined when a name is unknown. */
  classIndex(label: string | number): number | undefined {
    if (typeof label === 'number') {
      if (!Number.isInteger(label) || label < 0 || label >= this.classes.length) {
        throw new Error(`class index ${label} is outside 0..${this.classes.length - 1}`);
      }
      return label;
    }
    const i = this.classes.indexOf(label);
    return i < 0 ? undefined : i;
  }

  /** One forward pass through every layer. */
  forward(x: Float32Array, batch: number): LayerOutput[] {
    this.checkUsable();
    const outputs = this.engine
      .forwardStack(this.layers, x, batch, 'all')
      .map((f) => ({ z: f.z, classScores: this.classScoresOf(f.cosines, batch) }) as LayerOutput);
    if (this.teachSelection?.kind === 'transfer' && this.hasTaughtClasses()) outputs[0].transferScores = this.transferScoresOf(x, batch);
    return outputs;
  }

  /** One layer alone, for flows that draw the network as a chain of layer nodes. */
  layerForward(layer: number, x: Float32Array, batch: number): LayerOutput {
    this.checkUsable();
    const f = this.layerAt(layer).forward(x, batch);
    const out: LayerOutput = { z: f.z, classScores: this.classScoresOf(f.cosines, batch) };
    if (layer === 0 && this.teachSelection?.kind === 'transfer' && this.hasTaughtClasses()) out.transferScores = this.transferScoresOf(x, batch);
    return out;
  }

  /** Single-pass classification of a batch. */
  predict(x: Float32Array, batch: number, options: PredictOptions = {}): Prediction[] {
    this.requireClasses();
    const scoring = options.scoring ?? this.config.scoring;
    if (scoring === 'final' && !this.hasTaughtClasses()) {
      // The decision reads only the top layer, so the layers below stay on the engine.
      this.checkUsable();
      const [top] = this.engine.forwardStack(this.layers, x, batch, 'final');
      return this.decide([{ z: top.z, classScores: this.classScoresOf(top.cosines, batch) }], batch, options);
    }
    return this.decide(this.forward(x, batch), batch, options);
  }

  /** Decisions from already computed layer outputs (all layers, or the final one for 'final' scoring). */
  decide(outputs: LayerOutput[], batch: number, options: PredictOptions = {}): Prediction[] {
    this.requireClasses();
    const scoring = options.scoring ?? this.config.scoring;
    const threshold = options.unknownThreshold ?? this.config.unknownThreshold;
    const topK = Math.max(1, Math.min(options.topK ?? 3, this.classes.length));
    const k = this.classes.length;
    const used = scoring === 'final' ? outputs.slice(-1) : outputs;
    const predictions: Prediction[] = [];
    const ranking = new Float64Array(k);
    const similarities = this.decisionSimilarities(outputs, batch, scoring);
    const taught = this.hasTaughtClasses() ? this.taughtDemos.map((d) => d !== null) : undefined;
    for (let b = 0; b < batch; b++) {
      ranking.fill(0);
      const similarity = similarities.subarray(b * k, (b + 1) * k);
      for (const out of used) {
        const s = out.classScores.subarray(b * k, (b + 1) * k);
        // Per-layer log-softmax of cos/tau; for one layer the ranking equals argmax cosine.
        let max = -Infinity;
        for (let c = 0; c < k; c++) max = Math.max(max, s[c] / this.config.tau);
        let sum = 0;
        for (let c = 0; c < k; c++) sum += Math.exp(s[c] / this.config.tau - max);
        const logZ = max + Math.log(sum);
        for (let c = 0; c < k; c++) ranking[c] += s[c] / this.config.tau - logZ;
      }
      const order = taught ? this.taughtOrder(outputs, b, ranking, similarity, taught) : Array.from({ length: k }, (_, c) => c).sort((a, c) => ranking[c] - ranking[a]);
      const best = order[0];
      const score = similarity[best];
      predictions.push({
        label: this.classes[best],
        index: best,
        score,
        margin: k > 1 ? score - similarity[order[1]] : score,
        known: score >= threshold,
        top: order.slice(0, topK).map((c) => ({ label: this.classes[c], index: c, score: similarity[c] })),
      });
    }
    return predictions;
  }

  /** batch x classes: each class's similarity as decisions report it (the mean cosine over the scored layers). */
  private decisionSimilarities(outputs: LayerOutput[], batch: number, scoring: Scoring = this.config.scoring): Float64Array {
    const k = this.classes.length;
    const used = scoring === 'final' ? outputs.slice(-1) : outputs;
    const out = new Float64Array(batch * k);
    for (const o of used) for (let i = 0; i < batch * k; i++) out[i] += o.classScores[i] / used.length;
    return out;
  }

  /**
   * One local training step of every layer on a labelled batch. With `dropout`, a random fraction of each layer's
   * input values is zeroed (and the rest scaled up to keep the sum) for this step only.
   */
  trainBatch(x: Float32Array, batch: number, labels: Int32Array, dropout?: { input: number; hidden: number; random: SeededRandom }): TrainBatchResult {
    this.requireClasses();
    const losses: number[] = [];
    let correct = 0;
    let input = x;
    for (const [l, layer] of this.layers.entries()) {
      if (dropout) input = dropValues(input, l === 0 ? dropout.input : dropout.hidden, dropout.random);
      const r = layer.trainStep(input, batch, labels, {
        prototypeUpdate: this.config.prototypeUpdate,
        emaRate: this.config.emaRate,
      });
      losses.push(r.loss);
      correct = r.correct;
      input = r.z;
    }
    this.countLabels(labels);
    this.markTrained(labels);
    this.reference = undefined;
    this.version += 1;
    return { losses, correct };
  }

  /** One local training step of a single layer; returns that layer's output before the update. */
  trainLayerBatch(layer: number, x: Float32Array, batch: number, labels: Int32Array): { loss: number; correct: number; z: Float32Array } {
    this.requireClasses();
    const r = this.layerAt(layer).trainStep(x, batch, labels, {
      prototypeUpdate: this.config.prototypeUpdate,
      emaRate: this.config.emaRate,
    });
    if (layer === this.layers.length - 1) {
      this.countLabels(labels);
      this.markTrained(labels);
    }
    this.reference = undefined;
    this.version += 1;
    return r;
  }

  /**
   * Adds or updates a class from demonstrations, at every layer, without touching the weights: a new class's
   * prototypes are imprinted from the normalised mean of the demonstrations' representations.
   */
  teach(label: string | number, examples: Float32Array, n: number, options: TeachOptions = {}): TeachResult {
    this.checkUsable();
    const mode = options.mode ?? 'mean';
    const rate = options.rate ?? this.config.emaRate;
    const meanOf = options.meanOf ?? Infinity;
    if (mode !== 'mean' && mode !== 'ema') throw new Error(`teach mode must be 'mean' or 'ema', got ${JSON.stringify(mode)}`);
    if (!(rate > 0 && rate <= 1)) throw new Error(`teach rate must be in (0, 1], got ${rate}`);
    if (!(meanOf >= 1)) throw new Error(`teach meanOf must be at least 1, got ${meanOf}`);
    if (typeof label === 'string') assertClassName(label, 'label');
    if (!Number.isInteger(n) || n < 1 || examples.length !== n * this.config.inputSize) {
      throw new Error(`demonstrations: expected ${n} vector(s) of length ${this.config.inputSize}, got ${examples.length} values`);
    }
    let index = this.classIndex(label);
    const created = index === undefined;
    const previousCount = created ? 0 : this.counts[index as number];
    const applied = mode === 'mean' ? Math.max(0, Math.min(n, meanOf - previousCount)) : n;
    // Each demonstration is imprinted as the mean of its augmented copies (small shifts, flips for colour images).
    const aug = augmentDemonstrations(examples, n, this.config.inputShape, this.config.teaching.augment);
    const outputs = this.forwardTrained(aug.data, n * aug.copies);
    const copies = aug.copies;
    const m = this.config.prototypesPerClass;
    if (created) index = this.classes.length;
    const similarityBefore: (number | null)[] = [];
    const sums: Float32Array[] = [];
    this.layers.forEach((layer, l) => {
      const units = layer.spec.units;
      const sum = new Float32Array(units);
      for (let b = 0; b < applied * copies; b++) {
        const z = row(outputs[l].z, b, units);
        for (let u = 0; u < units; u++) sum[u] += z[u] / copies;
      }
      sums.push(sum);
      const mean = normalizeInPlace(Float32Array.from(sum));
      const current = layer.readPrototypes();
      if (created) {
        similarityBefore.push(null);
        const grown = new Float32Array(current.length + m * units);
        grown.set(current);
        for (let j = 0; j < m; j++) grown.set(mean, current.length + j * units);
        layer.setPrototypes(grown);
        return;
      }
      // With several prototypes per class the demonstrations refine the one they resemble most.
      let nearest = 0;
      let nearestSim = -Infinity;
      for (let j = 0; j < m; j++) {
        const s = dot(row(current, (index as number) * m + j, units), mean);
        if (s > nearestSim) {
          nearestSim = s;
          nearest = j;
        }
      }
      similarityBefore.push(nearestSim);
      if (applied === 0) return;
      const p = row(current, (index as number) * m + nearest, units);
      for (let u = 0; u < units; u++) {
        p[u] = mode === 'ema' ? (1 - rate) * p[u] + rate * mean[u] : previousCount * p[u] + sum[u];
      }
      normalizeInPlace(p);
      layer.setPrototypes(current);
    });
    if (created) {
      this.classes.push(String(label));
      this.counts.push(0);
      this.taughtDemos.push(null);
    }
    const i = index as number;
    this.counts[i] += applied;
    // Classes created by teaching keep their demonstrations: they are ranked among themselves on the representation
    // that separates the demonstrations best (see updateSelection), and calibrated against the trained classes.
    if (created || this.taughtDemos[i] !== null) {
      const keep = this.config.teaching.keepDemos;
      const size = this.config.inputSize;
      const old = this.taughtDemos[i] ?? new Float32Array(0);
      const add = mode === 'mean' ? examples.subarray(0, applied * size) : examples;
      let next = new Float32Array(old.length + add.length);
      next.set(old);
      next.set(add, old.length);
      if (next.length > keep * size) next = mode === 'mean' ? next.slice(0, keep * size) : next.slice(next.length - keep * size);
      this.taughtDemos[i] = next;
      if (applied > 0 || created) this.updateSelection();
    }
    if (applied > 0 || created) this.version += 1;
    return { label: this.classes[i], index: i, created, count: this.counts[i], applied, mode, version: this.version, similarityBefore, sums };
  }

  /**
   * Sets a class's prototypes at every layer to the given directions (normalised here), creating the class if
   * needed; used to apply prototypes merged from elsewhere (other robots of a fleet).
   */
  setClassPrototypes(label: string, perLayer: Float32Array[], count: number): { label: string; index: number; created: boolean; version: number } {
    this.checkUsable();
    if (perLayer.length !== this.layers.length) {
      throw new Error(`expected prototypes for ${this.layers.length} layers, got ${perLayer.length}`);
    }
    perLayer.forEach((v, l) => {
      if (v.length !== this.layers[l].spec.units) {
        throw new Error(`layer ${l}: expected a prototype of length ${this.layers[l].spec.units}, got ${v.length}`);
      }
      assertFinite(`prototype of layer ${l}`, v);
    });
    let index = this.classIndex(label);
    const created = index === undefined;
    if (created) checkClassNames([...this.classes, label]);
    const m = this.config.prototypesPerClass;
    this.layers.forEach((layer, l) => {
      const units = layer.spec.units;
      const unit = normalizeInPlace(Float32Array.from(perLayer[l]));
      const current = layer.readPrototypes();
      const next = created ? new Float32Array(current.length + m * units) : current;
      if (created) next.set(current);
      const base = (created ? this.classes.length : (index as number)) * m;
      for (let j = 0; j < m; j++) next.set(unit, (base + j) * units);
      layer.setPrototypes(next);
    });
    if (created) {
      index = this.classes.length;
      this.classes.push(label);
      this.counts.push(0);
      this.taughtDemos.push(null);
    }
    this.counts[index as number] = count;
    this.version += 1;
    return { label, index: index as number, created, version: this.version };
  }

  /** Removes a class and its prototypes at every layer. */
  forgetClass(label: string | number): { label: string; index: number; version: number } {
    const index = this.requireClass(label);
    const m = this.config.prototypesPerClass;
    for (const layer of this.layers) {
      const units = layer.spec.units;
      const current = layer.readPrototypes();
      const kept = new Float32Array(current.length - m * units);
      kept.set(current.subarray(0, index * m * units));
      kept.set(current.subarray((index + 1) * m * units), index * m * units);
      layer.setPrototypes(kept);
    }
    const [name] = this.classes.splice(index, 1);
    this.counts.splice(index, 1);
    this.taughtDemos.splice(index, 1);
    if (!this.hasTaughtClasses()) this.dropTeachState();
    this.version += 1;
    return { label: name, index, version: this.version };
  }

  renameClass(label: string | number, newName: string): { label: string; previous: string; index: number; version: number } {
    const index = this.requireClass(label);
    checkClassNames([newName]);
    if (this.classes.includes(newName) && this.classes[index] !== newName) {
      throw new Error(`cannot rename to '${newName}': a class of that name exists`);
    }
    const previous = this.classes[index];
    this.classes[index] = newName;
    this.version += 1;
    return { label: newName, previous, index, version: this.version };
  }

  /** Reads every layer's prototypes (rows class-major). */
  readPrototypes(): Float32Array[] {
    return this.layers.map((layer) => layer.readPrototypes());
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.layers.forEach((layer) => layer.dispose());
    this.transferBranch?.dispose();
    this.transferBranch = undefined;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Whether some class was created by teaching and still has its demonstrations (then decisions calibrate it). */
  hasTaughtClasses(): boolean {
    return this.taughtDemos.some((d) => d !== null);
  }

  /** Names of the classes created by teach() that keep their demonstrations (ranked by the teaching rules). */
  taughtClassNames(): string[] {
    return this.classes.filter((_, c) => this.taughtDemos[c] !== null);
  }

  /** Indices of the classes created by teaching (imprinted from demonstrations, not trained). */
  get taughtClasses(): number[] {
    return this.taughtDemos.flatMap((d, c) => (d ? [c] : []));
  }

  /** Size of the kept reference sample of trained inputs (0: none; see TrainedReference). */
  get trainedReferenceSize(): number {
    return this.reference?.samples ?? 0;
  }

  /**
   * Keeps inputs of the trained classes (trainNetwork passes a sample of its training data) as the reference on
   * which taught classes are calibrated; replaces any earlier one.
   */
  setTrainedReference(x: Float32Array, batch: number): void {
    this.requireClasses();
    if (!Number.isInteger(batch) || batch < 1 || x.length !== batch * this.config.inputSize) {
      throw new Error(`reference inputs: expected ${batch} vector(s) of length ${this.config.inputSize}, got ${x.length} values`);
    }
    const trained = this.trainedClasses;
    if (trained.length === 0) {
      this.reference = undefined;
      return;
    }
    const outputs = this.forward(x, batch);
    const layers = this.config.scoring === 'final' ? [this.layers.length - 1] : this.layers.map((_, l) => l);
    const similarity = this.decisionSimilarities(outputs, batch);
    const k = this.classes.length;
    const reference: TrainedReference = { samples: batch, layers, z: layers.map((l) => outputs[l].z), familiarity: new Float32Array(batch) };
    for (let b = 0; b < batch; b++) {
      reference.familiarity[b] = this.familiarity(reference, similarity.subarray(b * k, (b + 1) * k), trained, reference.z, b, b);
    }
    this.reference = reference;
    this.offsetCache = undefined;
  }

  /**
   * Familiarity of row `b` of `z` (per kept layer, rows of that layer's width), whose class similarities are
   * `similarity`: the larger of its best similarity to a trained class and its similarity to the nearest reference
   * input other than `skip` (the mean over the kept layers of the cosines).
   */
  private familiarity(reference: TrainedReference, similarity: ArrayLike<number>, trained: number[], z: Float32Array[], b: number, skip = -1): number {
    let nearest = -Infinity;
    for (const c of trained) nearest = Math.max(nearest, similarity[c]);
    for (let i = 0; i < reference.samples; i++) {
      if (i === skip) continue;
      let sim = 0;
      reference.layers.forEach((l, j) => {
        const units = this.layers[l].spec.units;
        sim += dot(row(z[j], b, units), row(reference.z[j], i, units));
      });
      nearest = Math.max(nearest, sim / reference.layers.length);
    }
    return nearest;
  }

  /** Indices of the classes trained by gradient (not created by teaching). */
  private get trainedClasses(): number[] {
    return this.taughtDemos.flatMap((d, c) => (d ? [] : [c]));
  }

  /** The representation that ranks taught classes among themselves (null: the decision scores). */
  get teachingSelection(): TeachSelection | null {
    return this.teachSelection;
  }

  private forwardTrained(x: Float32Array, batch: number): LayerOutput[] {
    const outputs: LayerOutput[] = [];
    let input = x;
    for (const layer of this.layers) {
      const f = layer.forward(input, batch);
      outputs.push({ z: f.z, classScores: f.cosines });
      input = f.z;
    }
    return outputs;
  }

  /**
   * Class order when some classes were taught: trained classes by the usual ranking; the taught classes as one
   * group that comes first only when its best similarity beats the trained classes' by the teaching margin; inside
   * the group, the order of the selected representation (a trained layer's cosines, or the random transfer branch).
   */
  private taughtOrder(outputs: LayerOutput[], b: number, ranking: Float64Array, similarity: Float64Array, taught: boolean[]): number[] {
    const k = this.classes.length;
    const sel = this.teachSelection;
    const transfer = outputs[0]?.transferScores;
    let key: (c: number) => number = (c) => ranking[c];
    if (sel?.kind === 'transfer' && transfer) key = (c) => transfer[b * k + c];
    else if (sel?.kind === 'trained' && outputs.length === this.layers.length) {
      const scores = outputs[sel.layer].classScores;
      key = (c) => scores[b * k + c];
    } else if (sel?.kind === 'layers' && outputs.length === this.layers.length) {
      key = (c) => outputs.reduce((a, o) => a + o.classScores[b * k + c], 0);
    }
    const taughtIdx: number[] = [];
    const trainedIdx: number[] = [];
    for (let c = 0; c < k; c++) (taught[c] ? taughtIdx : trainedIdx).push(c);
    taughtIdx.sort((a, c) => key(c) - key(a) || ranking[c] - ranking[a]);
    trainedIdx.sort((a, c) => ranking[c] - ranking[a]);
    if (trainedIdx.length === 0) return taughtIdx;
    const offsets = this.taughtOffsets();
    let group = -Infinity;
    for (const c of taughtIdx) group = Math.max(group, similarity[c] - offsets[c]);
    // To come first, the taught classes must beat the input's familiarity (with a reference; else the best trained
    // class); below the top they are ranked by similarity.
    const reference = this.reference;
    let familiarity = similarity[trainedIdx[0]];
    // (An hff-layer chain carries class scores but no representations: there only the trained classes count.)
    const kept = reference?.layers.map((l) => outputs[l]?.z);
    if (reference && kept?.every((z, j) => z && z.length >= (b + 1) * this.layers[reference.layers[j]].spec.units)) {
      familiarity = this.familiarity(reference, similarity, trainedIdx, kept as Float32Array[], b);
    }
    const order: number[] = [];
    let placed = false;
    for (const [i, c] of trainedIdx.entries()) {
      if (!placed && group > (i === 0 ? familiarity : similarity[c])) {
        order.push(...taughtIdx);
        placed = true;
      }
      order.push(c);
    }
    if (!placed) order.push(...taughtIdx);
    return order;
  }

  /**
   * Per taught class, how much its similarity is lowered before it competes with the trained classes:
   * `teaching.calibration` times the mean, over its kept demonstrations, of (similarity to its own prototypes - best
   * similarity to a trained class), plus `teaching.margin`. Imprinted prototypes sit closer to their demonstrations than trained prototypes to their
   * inputs; this puts both on one scale, so that a taught class takes an input only when the input resembles it
   * more than its own demonstrations resemble the trained classes.
   */
  private taughtOffsets(): Float64Array {
    const k = this.classes.length;
    if (this.offsetCache && this.offsetCache.version === this.version && this.offsetCache.offsets.length === k) return this.offsetCache.offsets;
    const offsets = new Float64Array(k);
    const size = this.config.inputSize;
    const trained = this.trainedClasses;
    const reference = this.reference;
    if (reference && trained.length > 0) {
      const taught = this.taughtClasses;
      // Each taught class may take its share of the reference sample: the offset is the advantage over the
      // trained classes that only that many reference inputs exceed.
      const share = this.config.teaching.maxTrainedLoss / taught.length;
      const allowed = Math.min(reference.samples - 1, Math.floor(share * reference.samples));
      const prototypes = reference.layers.map((l) => this.layers[l].readPrototypes());
      const m = this.config.prototypesPerClass;
      const advantage = new Float64Array(reference.samples);
      for (const c of taught) {
        for (let i = 0; i < reference.samples; i++) {
          let sim = 0;
          reference.layers.forEach((l, j) => {
            const units = this.layers[l].spec.units;
            const z = row(reference.z[j], i, units);
            let closest = -Infinity;
            for (let p = 0; p < m; p++) closest = Math.max(closest, dot(z, row(prototypes[j], c * m + p, units)));
            sim += closest / reference.layers.length;
          });
          advantage[i] = sim - reference.familiarity[i];
        }
        advantage.sort();
        offsets[c] = advantage[reference.samples - 1 - allowed];
      }
      this.offsetCache = { version: this.version, offsets };
      return offsets;
    }
    this.taughtDemos.forEach((demos, c) => {
      if (!demos || trained.length === 0) return;
      const n = demos.length / size;
      const outputs = this.forwardTrained(demos, n);
      const used = this.config.scoring === 'final' ? outputs.slice(-1) : outputs;
      const scores = used.map((o) => this.classScoresOf(o.classScores, n));
      let sum = 0;
      for (let b = 0; b < n; b++) {
        const sim = (cls: number) => scores.reduce((a, s) => a + s[b * k + cls], 0) / scores.length;
        let best = -Infinity;
        for (const t of trained) best = Math.max(best, sim(t));
        sum += sim(c) - best;
      }
      offsets[c] = (sum / n) * this.config.teaching.calibration + this.config.teaching.margin;
    });
    this.offsetCache = { version: this.version, offsets };
    return offsets;
  }

  private transferScoresOf(x: Float32Array, batch: number): Float32Array {
    const k = this.classes.length;
    const protos = this.transferPrototypes();
    const branch = this.requireTransferBranch();
    const units = branch.units;
    const f = branch.features(x, batch);
    const out = new Float32Array(batch * k).fill(NaN);
    for (let b = 0; b < batch; b++) {
      const z = row(f, b, units);
      for (let c = 0; c < k; c++) if (this.taughtDemos[c]) out[b * k + c] = dot(z, row(protos, c, units));
    }
    return out;
  }

  /** Per class (rows), the normalised mean transfer feature of its kept demonstrations and their augmented copies. */
  private transferPrototypes(): Float32Array {
    if (this.transferCache && this.transferCache.version === this.version && this.transferCache.prototypes.length === this.classes.length * this.requireTransferBranch().units) {
      return this.transferCache.prototypes;
    }
    const branch = this.requireTransferBranch();
    const units = branch.units;
    const size = this.config.inputSize;
    const protos = new Float32Array(this.classes.length * units);
    this.taughtDemos.forEach((demos, c) => {
      if (!demos) return;
      const n = demos.length / size;
      const aug = augmentDemonstrations(demos, n, this.config.inputShape, this.config.teaching.augment);
      const f = branch.features(aug.data, n * aug.copies);
      const p = row(protos, c, units);
      for (let r = 0; r < n * aug.copies; r++) {
        const z = row(f, r, units);
        for (let u = 0; u < units; u++) p[u] += z[u];
      }
      normalizeInPlace(p);
    });
    this.transferCache = { version: this.version, prototypes: protos };
    return protos;
  }

  private requireTransferBranch(): TransferBranch {
    if (!this.transferBranch) {
      const t = this.config.teaching;
      const input = { centerInput: this.config.centerInput || t.transferCenterInput, normalizeInput: this.config.normalizeInput };
      this.transferBranch = new TransferBranch(this.engine, this.config.inputSize, t.transferLayers, t.transferSeed, input, this.config.optimizer);
    }
    return this.transferBranch;
  }

  /**
   * Chooses the representation that ranks taught classes: each trained layer and the random transfer branch are
   * scored by leave-one-demonstration-out over the kept demonstrations of every taught class; the transfer branch
   * must beat the best trained layer by `teaching.transferPreference`. Needs two taught classes.
   */
  private updateSelection(): void {
    const taught = this.taughtClasses;
    if (taught.length < 2) return;
    const size = this.config.inputSize;
    const perClass = 10;
    const demoClass: number[] = [];
    const rows: Float32Array[] = [];
    for (const c of taught) {
      const d = this.taughtDemos[c] as Float32Array;
      const n = Math.min(perClass, d.length / size);
      for (let i = 0; i < n; i++) {
        rows.push(d.subarray(i * size, (i + 1) * size));
        demoClass.push(c);
      }
    }
    const x = new Float32Array(rows.length * size);
    rows.forEach((r, i) => x.set(r, i * size));
    const aug = augmentDemonstrations(x, rows.length, this.config.inputShape, this.config.teaching.augment);
    const outputs = this.forwardTrained(aug.data, rows.length * aug.copies);
    // The trained layers together (the sum of their cosines: the cosine on their concatenation, each part scaled
    // by 1/sqrt(layers)); a single layer picked by the noisy leave-one-out transferred worse.
    const rowsN = rows.length * aug.copies;
    const width = this.config.layers.reduce((a, b) => a + b, 0);
    const joined = new Float32Array(rowsN * width);
    const scale = 1 / Math.sqrt(outputs.length);
    for (let r = 0; r < rowsN; r++) {
      let offset = r * width;
      outputs.forEach((o, l) => {
        const units = this.layers[l].spec.units;
        for (let u = 0; u < units; u++) joined[offset + u] = o.z[r * units + u] * scale;
        offset += units;
      });
    }
    const bestScore = leaveOneOutScore(joined, width, demoClass, aug.copies);
    this.lastSelectionScores = {};
    let selection: TeachSelection = { kind: 'layers' };
    if (bestScore === undefined) {
      this.teachSelection = selection;
      this.releaseTransferBranch();
      return;
    }
    this.lastSelectionScores.layers = bestScore;
    const t = this.config.teaching;
    if (t.transferLayers.length > 0) {
      const branch = this.requireTransferBranch();
      const score = leaveOneOutScore(branch.features(aug.data, rows.length * aug.copies), branch.units, demoClass, aug.copies);
      if (score !== undefined) this.lastSelectionScores.transfer = score;
      if (score !== undefined && score > bestScore + t.transferPreference) selection = { kind: 'transfer' };
    }
    this.teachSelection = selection;
    if (selection.kind !== 'transfer') this.releaseTransferBranch();
  }

  private releaseTransferBranch(): void {
    this.transferBranch?.dispose();
    this.transferBranch = undefined;
    this.transferCache = undefined;
  }

  private dropTeachState(): void {
    this.teachSelection = null;
    this.releaseTransferBranch();
  }

  /** Classes trained by gradient are no longer taught ones: they are scored like every trained class. */
  private markTrained(labels: Int32Array): void {
    let changed = false;
    for (const l of labels) {
      if (this.taughtDemos[l]) {
        this.taughtDemos[l] = null;
        changed = true;
      }
    }
    if (changed && !this.hasTaughtClasses()) this.dropTeachState();
  }

  private requireClass(label: string | number): number {
    const index = this.classIndex(label);
    if (index === undefined) throw new Error(`unknown class '${label}'; known classes: ${this.classes.join(', ') || '(none)'}`);
    return index;
  }

  private classScoresOf(cosines: Float32Array, batch: number): Float32Array {
    const m = this.config.prototypesPerClass;
    if (m === 1) return cosines;
    const k = this.classes.length;
    const out = new Float32Array(batch * k);
    for (let b = 0; b < batch; b++) {
      for (let c = 0; c < k; c++) {
        let best = -Infinity;
        for (let j = 0; j < m; j++) best = Math.max(best, cosines[b * k * m + c * m + j]);
        out[b * k + c] = best;
      }
    }
    return out;
  }

  private countLabels(labels: Int32Array): void {
    for (const label of labels) this.counts[label] += 1;
  }

  private layerAt(layer: number): EngineLayer {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.layers.length) {
      throw new Error(`layer ${layer} does not exist; this network has layers 0..${this.layers.length - 1}`);
    }
    return this.layers[layer];
  }

  private checkUsable(): void {
    if (this.disposed) throw new Error('the network was disposed (its model node was closed)');
  }

  private requireClasses(): void {
    this.checkUsable();
    if (this.classes.length === 0) throw new Error('the model has no classes yet: teach one first');
  }
}

/** A copy of x with each value zeroed with probability p and the others divided by 1 - p (x itself when p is 0). */
function dropValues(x: Float32Array, p: number, random: SeededRandom): Float32Array {
  if (p === 0) return x;
  const keep = 1 / (1 - p);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = random.next() < p ? 0 : x[i] * keep;
  return out;
}

function layerSpec(config: NetworkConfig, index: number): LayerSpec {
  return {
    inputSize: index === 0 ? config.inputSize : config.layers[index - 1],
    units: config.layers[index],
    activation: config.activation,
    centerInput: index === 0 && config.centerInput,
    normalizeInput: index === 0 ? config.normalizeInput : false,
    tau: config.tau,
    margin: config.margin,
    prototypesPerClass: config.prototypesPerClass,
  };
}

function checkClassNames(names: string[]): void {
  const seen = new Set<string>();
  for (const name of names) {
    assertClassName(name);
    if (seen.has(name)) throw new Error(`class '${name}' is listed twice`);
    seen.add(name);
  }
}

/** The trained-input reference of a model file (manifest `trainedReference` and its tensors), checked. */
function readReference(value: unknown, files: ModelFiles, config: NetworkConfig, source: string): TrainedReference {
  const r = value as { samples?: unknown; layers?: unknown } | null;
  const samples = r?.samples;
  const layers = r?.layers;
  if (!Number.isInteger(samples) || (samples as number) < 1 || !Array.isArray(layers) || layers.length === 0) {
    throw new Error(`${source}: trainedReference must give a positive sample count and the layers it keeps`);
  }
  const n = samples as number;
  const tensor = (name: string, shape: number[]): Float32Array => {
    const t = files.tensors[name];
    if (!t || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`${source}: tensor ${name} must have shape [${shape}]`);
    }
    assertFinite(name, t.data);
    return t.data;
  };
  const z = layers.map((l) => {
    if (!Number.isInteger(l) || l < 0 || l >= config.layers.length) throw new Error(`${source}: trainedReference names layer ${JSON.stringify(l)}, which does not exist`);
    return tensor(`trainedReference.layers.${l}.z`, [n, config.layers[l]]);
  });
  return { samples: n, layers: [...(layers as number[])], z, familiarity: tensor('trainedReference.familiarity', [n]) };
}
