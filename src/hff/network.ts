import { type Engine, type EngineLayer, type LayerParams, inputWidth, prototypeWidth, unknownLayerKind, weightRows } from '../engines/types';
import { type ModelFiles, type NetworkModel, decodeNetwork, encodeNetwork } from '../model-file';
import { type NetworkConfig, type NetworkOptions, type Scoring, layerSpec, resolveConfig } from './config';
import { SeededRandom } from './random';
import { assertClassNames } from './class-names';
import { ClassBook, type TeachOptions, type TeachResult } from './class-book';
import { type TaughtScores, type TaughtScoring, TaughtClasses } from './taught-classes';
import { assertFinite, highestBy, randomUnitRows } from './vectors';
import { FeatureStage, type FeatureStageOptions } from '../feature-stage/feature-stage';

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
  /** batch x units unit vectors (a convolutional block's: its pooled maps averaged, batch x filters). */
  z: Float32Array;
  /** What the layer passes up, the next layer's input, where it is not z: a convolutional block's unit pooled maps. */
  output?: Float32Array;
  /** batch x classes: per class, the cosine of its closest prototype. */
  classScores: Float32Array;
  /**
   * Only on the first output of `forward` and `layerForward(0)` when the model has taught classes: their similarities
   * and each input's familiarity (see TaughtClasses), which `decide` needs besides the class scores.
   */
  taught?: TaughtScores;
}

export interface TrainBatchResult {
  /** Local loss of each layer. */
  losses: number[];
  /** Rows the final layer classified right (before this step's update). */
  correct: number;
}

/** Options of a new network; a feature stage is given as a user names it and opened by `create`. */
export type NetworkCreateOptions = Omit<NetworkOptions, 'featureStage'> & { featureStage?: FeatureStageOptions };

export interface NetworkMetadata {
  [key: string]: unknown;
}

/**
 * A Hyperspherical Forward-Forward network: a stack of layers, each trained by its own prototype loss on the
 * detached output of the layer below, and predicting in one forward pass.
 */
export class HffNetwork {
  readonly config: NetworkConfig;
  /** Increases with every change of weights or prototypes. */
  version: number;
  metadata: NetworkMetadata;
  private readonly layers: EngineLayer[];
  /** The image-to-vector network before the first layer, when the model has one (config.featureStage). */
  private readonly stage?: FeatureStage;
  private disposed = false;
  /** The classes created by teaching, with their demonstrations, and the trained-input reference. */
  private readonly taught: TaughtClasses;
  /** Class names and counts, and every change of a class's prototypes. */
  private readonly book: ClassBook;

  private constructor(
    readonly engine: Engine,
    { config, classes, counts, version, metadata, params }: NetworkModel,
    stage: FeatureStage | undefined,
  ) {
    this.config = config;
    this.version = version;
    this.metadata = metadata;
    this.stage = stage;
    this.layers = params.map((p, i) => engine.createLayer(layerSpec(config, i), p, config.optimizer));
    const stackInput = (x: Float32Array, batch: number) => this.stackInput(x, batch);
    const layerOutputs = (stack: Float32Array, batch: number) => this.engine.forwardStack(this.layers, stack, batch, 'all').map((f) => f.z);
    this.taught = new TaughtClasses({ engine, config, layerOutputs, stackInput }, classes.length);
    this.book = new ClassBook({ engine, config, layers: this.layers, stackInput }, this.taught, classes, counts);
  }

  /** A freshly initialised network (seeded, so the same seed gives the same weights on every backend). */
  static create(engine: Engine, options: NetworkCreateOptions, classes: string[] = []): HffNetwork {
    assertClassNames(classes);
    const stage = options.featureStage ? FeatureStage.open(options.featureStage) : undefined;
    let config: NetworkConfig;
    try {
      config = resolveConfig({ ...options, featureStage: stage?.config });
    } catch (err) {
      stage?.dispose();
      throw err;
    }
    const random = new SeededRandom(config.seed);
    const gaussian = () => random.gaussian();
    const params = config.stack.map((layer, i): LayerParams => {
      switch (layer.kind) {
        case 'dense':
        case 'conv2d': {
          // He initialisation keeps ReLU activations alive at every depth; a block's fan-in is its kernel taps x channels.
          const spec = layerSpec(config, i);
          const fanIn = weightRows(spec);
          const units = prototypeWidth(spec);
          const scale = Math.sqrt(2 / fanIn);
          const weight = new Float32Array(fanIn * units);
          for (let j = 0; j < weight.length; j++) weight[j] = gaussian() * scale;
          return { weight, bias: new Float32Array(units), prototypes: randomUnitRows(classes.length * config.prototypesPerClass, units, gaussian) };
        }
        default:
          return unknownLayerKind(layer);
      }
    });
    return new HffNetwork(engine, { config, classes: [...classes], counts: classes.map(() => 0), version: 0, metadata: {}, params }, stage);
  }

  /**
   * Rebuilds a network from model files, validating shapes against the architecture. A model with a feature stage
   * opens its ONNX file: at the recorded path, else by name in `directory` (the model's folder).
   */
  static fromModelFiles(engine: Engine, files: ModelFiles, source = 'model', directory?: string): HffNetwork {
    const model = decodeNetwork(files, source);
    let stage: FeatureStage | undefined;
    if (model.config.featureStage) {
      try {
        stage = FeatureStage.open(model.config.featureStage, { directory });
      } catch (err) {
        throw new Error(`${source}: ${(err as Error).message}`);
      }
    }
    const net = new HffNetwork(engine, model, stage);
    try {
      net.taught.readFiles(files, source);
    } catch (err) {
      net.dispose();
      throw err;
    }
    return net;
  }

  toModelFiles(): ModelFiles {
    const params = this.layers.map((layer) => layer.readParams());
    const model = { config: this.config, classes: this.classes, counts: this.counts, version: this.version, metadata: this.metadata, params };
    const files = encodeNetwork(model, this.engine.name);
    this.taught.writeFiles(files.manifest, files.tensors);
    return files;
  }

  get classes(): string[] {
    return this.book.classes;
  }

  /** Training examples or demonstrations seen per class. */
  get counts(): number[] {
    return this.book.counts;
  }

  get inputSize(): number {
    return this.config.inputSize;
  }

  get layerCount(): number {
    return this.layers.length;
  }

  /** What layerForward and trainLayerBatch take: the network's input for layer 0, the layer below's output above it. */
  layerInputSize(layer: number): number {
    if (layer === 0) return this.config.inputSize;
    return inputWidth(this.layerAt(layer).spec);
  }

  /** Resolves a class by name or index; undefined when a name is unknown. */
  classIndex(label: string | number): number | undefined {
    return this.book.classIndex(label);
  }

  /** What the first layer takes: the feature stage's vectors of the inputs, or the inputs themselves. */
  private stackInput(x: Float32Array, batch: number): Float32Array {
    if (!this.stage) return x;
    this.checkUsable();
    return this.stage.run(x, batch);
  }

  /** One forward pass through every layer. */
  forward(x: Float32Array, batch: number): LayerOutput[] {
    this.checkUsable();
    const stackInput = this.stackInput(x, batch);
    const outputs = this.engine
      .forwardStack(this.layers, stackInput, batch, 'all')
      .map((f) => ({ z: f.z, classScores: this.classScoresOf(f.cosines, batch) }) as LayerOutput);
    if (this.taught.any) outputs[0].taught = this.taught.score(x, batch, { layers: outputs.map((o) => o.z), stackInput });
    return outputs;
  }

  /**
   * One layer alone, for flows that draw the network as a chain of layer nodes. Layer 0 takes the network's input
   * (and runs the feature stage); the others the z of the layer below.
   */
  layerForward(layer: number, x: Float32Array, batch: number): LayerOutput {
    this.checkUsable();
    const input = layer === 0 ? this.stackInput(x, batch) : x;
    const f = this.layerAt(layer).forward(input, batch);
    const out: LayerOutput = { z: f.z, ...(f.output !== f.z ? { output: f.output } : {}), classScores: this.classScoresOf(f.cosines, batch) };
    if (layer === 0 && this.taught.any) out.taught = this.taught.score(x, batch, { stackInput: input });
    return out;
  }

  /** Single-pass classification of a batch. */
  predict(x: Float32Array, batch: number, options: PredictOptions = {}): Prediction[] {
    this.requireClasses();
    const scoring = options.scoring ?? this.config.scoring;
    if (scoring === 'final' && !this.taught.usesLayers) {
      // The decision reads only the top layer, so the layers below stay on the engine.
      this.checkUsable();
      const stackInput = this.stackInput(x, batch);
      const [top] = this.engine.forwardStack(this.layers, stackInput, batch, 'final');
      const output: LayerOutput = { z: top.z, classScores: this.classScoresOf(top.cosines, batch) };
      if (this.taught.any) output.taught = this.taught.score(x, batch, { stackInput });
      return this.decide([output], batch, options);
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
    const taught = outputs[0]?.taught;
    const taughtScores = taught && taught.scores.length === batch * k ? taught : undefined;
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
      let order: number[];
      let margin: number;
      if (taughtScores) {
        const decision = Float64Array.from(similarity);
        // Taught classes report their similarity to their nearest demonstration.
        for (let c = 0; c < k; c++) if (this.taught.isTaught(c)) similarity[c] = taughtScores.scores[b * k + c];
        ({ order, margin } = this.taughtOrder(ranking, similarity, decision, taughtScores.familiarity[b], topK));
      } else {
        order = Array.from({ length: k }, (_, c) => c).sort((a, c) => ranking[c] - ranking[a]);
        margin = k > 1 ? similarity[order[0]] - similarity[order[1]] : similarity[order[0]];
      }
      const best = order[0];
      const score = similarity[best];
      predictions.push({
        label: this.classes[best],
        index: best,
        score,
        margin,
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
    let input = this.stackInput(x, batch);
    for (const [l, layer] of this.layers.entries()) {
      if (dropout) input = dropValues(input, l === 0 ? dropout.input : dropout.hidden, dropout.random);
      const r = layer.trainStep(input, batch, labels, {
        prototypeUpdate: this.config.prototypeUpdate,
        emaRate: this.config.emaRate,
      });
      losses.push(r.loss);
      correct = r.correct;
      input = r.output;
    }
    this.book.recordTraining(labels);
    this.version += 1;
    return { losses, correct };
  }

  /** One local training step of a single layer; returns that layer's output before the update. */
  trainLayerBatch(layer: number, x: Float32Array, batch: number, labels: Int32Array): { loss: number; correct: number; z: Float32Array; output: Float32Array } {
    this.requireClasses();
    const r = this.layerAt(layer).trainStep(layer === 0 ? this.stackInput(x, batch) : x, batch, labels, {
      prototypeUpdate: this.config.prototypeUpdate,
      emaRate: this.config.emaRate,
    });
    if (layer === this.layers.length - 1) this.book.recordTraining(labels);
    else this.taught.weightsChanged();
    this.version += 1;
    return r;
  }

  /**
   * Adds or updates a class from demonstrations, at every layer, without touching the weights: a new class's
   * prototypes are imprinted from the normalised mean of the demonstrations' representations.
   */
  teach(label: string | number, examples: Float32Array, n: number, options: TeachOptions = {}): TeachResult {
    this.checkUsable();
    const { changed, ...result } = this.book.teach(label, examples, n, options);
    if (changed) this.version += 1;
    return { ...result, version: this.version };
  }

  /**
   * Sets a class's prototypes at every layer to the given directions (normalised here), creating the class if
   * needed; used to apply prototypes merged from elsewhere (other robots of a fleet).
   */
  setClassPrototypes(label: string, perLayer: Float32Array[], count: number): { label: string; index: number; created: boolean; version: number } {
    this.checkUsable();
    const result = this.book.setPrototypes(label, perLayer, count);
    this.version += 1;
    return { ...result, version: this.version };
  }

  /** Removes a class and its prototypes at every layer. */
  forgetClass(label: string | number): { label: string; index: number; version: number } {
    const result = this.book.forget(label);
    this.version += 1;
    return { ...result, version: this.version };
  }

  renameClass(label: string | number, newName: string): { label: string; previous: string; index: number; version: number } {
    const result = this.book.rename(label, newName);
    this.version += 1;
    return { ...result, version: this.version };
  }

  /** Reads every layer's prototypes (rows class-major). */
  readPrototypes(): Float32Array[] {
    return this.layers.map((layer) => layer.readPrototypes());
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.layers.forEach((layer) => layer.dispose());
    this.taught.dispose();
    this.stage?.dispose();
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Whether some class was created by teaching and keeps its demonstrations (then decisions rank it apart). */
  hasTaughtClasses(): boolean {
    return this.taught.any;
  }

  /** Names of the classes created by teach() that keep their demonstrations. */
  taughtClassNames(): string[] {
    return this.classes.filter((_, c) => this.taught.isTaught(c));
  }

  /** Indices of the classes created by teaching (imprinted from demonstrations, not trained). */
  get taughtClasses(): number[] {
    return this.taught.indices;
  }

  /** Demonstrations a taught class keeps (0 for trained classes). */
  demonstrationCount(label: string | number): number {
    return this.taught.demonstrationCount(this.book.requireClass(label));
  }

  /** Size of the kept reference sample of trained inputs (0: none). */
  get trainedReferenceSize(): number {
    return this.taught.referenceSamples;
  }

  /**
   * The representation taught classes are scored in (null without taught classes), whether by their nearest
   * demonstration or their mean, and the leave-one-out score of each candidate ('<representation>' for nearest,
   * '<representation> mean') at the last choice, with the chosen one's as `score`.
   */
  get teachingRepresentation(): { representation: string | null; scoring: TaughtScoring; score: number | null; scores: Record<string, number> } {
    const representation = this.taught.representation;
    const scoring = this.taught.scoring;
    const scores = { ...this.taught.choiceScores };
    const score = representation ? (scores[scoring === 'mean' ? `${representation} mean` : representation] ?? null) : null;
    return { representation, scoring, score, scores };
  }

  /**
   * Keeps inputs of the trained classes (trainNetwork passes a sample of its training data) as the reference that a
   * taught class must be nearer than; replaces any earlier one.
   */
  setTrainedReference(x: Float32Array, batch: number): void {
    this.requireClasses();
    if (!Number.isInteger(batch) || batch < 1 || x.length !== batch * this.config.inputSize) {
      throw new Error(`reference inputs: expected ${batch} vector(s) of length ${this.config.inputSize}, got ${x.length} values`);
    }
    if (this.taught.indices.length === this.classes.length) return;
    assertFinite('reference inputs', x);
    this.taught.setReference(x, batch);
  }

  /**
   * Class order when some classes were taught: the trained classes by the usual ranking, the taught ones by their
   * similarity to their nearest demonstration. The taught classes come first when the best of them is nearer the
   * input than any kept training input, by the margin (`familiarity` includes it); without a reference, when its
   * decision similarity beats the best trained class's. `similarity` holds the taught classes' similarities,
   * `decision` the decision similarities of all classes.
   */
  private taughtOrder(
    ranking: Float64Array,
    similarity: Float64Array,
    decision: Float64Array,
    familiarity: number,
    topK: number,
  ): { order: number[]; margin: number } {
    const k = this.classes.length;
    const taughtAll: number[] = [];
    const trainedAll: number[] = [];
    for (let c = 0; c < k; c++) (this.taught.isTaught(c) ? taughtAll : trainedAll).push(c);
    // Only the first topK classes are reported (and two for the margin): no full sort of many taught classes.
    const wanted = Math.max(2, topK);
    const taughtIdx = highestBy(taughtAll, similarity, wanted);
    const trainedIdx = highestBy(trainedAll, ranking, wanted);
    const lead = (order: number[]) => (order.length > 1 ? similarity[order[0]] - similarity[order[1]] : similarity[order[0]]);
    if (trainedIdx.length === 0) return { order: taughtIdx, margin: lead(taughtIdx) };
    let taughtWins: boolean;
    if (Number.isNaN(familiarity)) {
      // No reference (older files, layer-by-layer training): imprinted prototypes against trained ones.
      let bestTaught = -Infinity;
      for (const c of taughtAll) bestTaught = Math.max(bestTaught, decision[c]);
      taughtWins = bestTaught > decision[trainedIdx[0]];
    } else {
      taughtWins = similarity[taughtIdx[0]] > familiarity;
    }
    if (!taughtWins) return { order: [...trainedIdx, ...taughtIdx], margin: lead(trainedIdx) };
    const nearestTrained = Number.isNaN(familiarity) ? -Infinity : familiarity;
    const runnerUp = Math.max(taughtIdx.length > 1 ? similarity[taughtIdx[1]] : -Infinity, nearestTrained);
    return { order: [...taughtIdx, ...trainedIdx], margin: similarity[taughtIdx[0]] - (Number.isFinite(runnerUp) ? runnerUp : similarity[trainedIdx[0]]) };
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
