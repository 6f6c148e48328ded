/**
 * The taught classes of a network: classes created at run time from demonstrations. Each keeps its demonstrations
 * (a bounded number) and is scored by its nearest prototype in one representation, a prototype being the mean of one
 * demonstration's augmented copies. The representation is chosen by evidence: leave-one-demonstration-out over
 * every taught class, among the input itself, the fixed random branch, each trained layer, all of them together, and
 * for images a colour histogram and edge-direction histograms.
 * A taught class beats the trained classes when an input is nearer its demonstrations than every kept training input
 * of the trained classes (the trained-input reference). See bench/TEACH.md for the measurements behind this.
 */
import type { Engine, RowMatcher } from '../engines/types';
import { type ModelFiles, type NamedTensor, taughtDemoCounts } from '../model-file';
import { type NetworkConfig, stackInputSize } from './config';
import { colourHistogram, edgeHistogram } from '../image/features';
import { type Representation, type RepresentationContext, TransferBranch, augmentDemonstrations, imageFeatures, isRepresentation } from './teaching';
import { assertFinite, dot, normalizeInPlace } from './vectors';

/** Per input of a batch: each taught class's similarity (NaN for trained classes) and the input's familiarity. */
export interface TaughtScores {
  /** batch x classes: similarity to the class's nearest prototype in the representation; NaN for trained classes. */
  scores: Float32Array;
  /**
   * Per input: the similarity a taught class must exceed to win over the trained classes: the input's similarity to
   * the nearest kept training input, in the same representation, plus the margin (NaN: no reference).
   */
  familiarity: Float32Array;
}

export type TaughtScoring = 'nearest' | 'mean';

/** What a caller has already computed for a batch, so that scoring does not compute it again. */
export interface Computed {
  /** Each trained layer's unit output. */
  layers?: Float32Array[];
  /** What the first layer took (the feature stage's output, when the model has one). */
  stackInput?: Float32Array;
}

/** What the taught classes need from their network: its settings and its trained layers' outputs. */
export interface LayerSource {
  readonly engine: Engine;
  readonly config: NetworkConfig;
  /** Each trained layer's unit output (batch x units) for a batch of what the first layer takes (stackInput's). */
  layerOutputs(stackInput: Float32Array, batch: number): Float32Array[];
  /** What the first layer takes for a batch of inputs: the feature stage's output, or the inputs themselves. */
  stackInput(x: Float32Array, batch: number): Float32Array;
}

interface TaughtClass {
  /** Stable across class renumbering (forget), so caches survive it. */
  uid: number;
  /** The kept demonstrations, one input vector each. */
  demos: Float32Array[];
  /** Changes with every change of `demos`. */
  version: number;
  /** Per representation: each demonstration's own representation and its copies' mean (unit rows), as far as computed. */
  rows: Map<Representation, { weights: number; query: Float32Array[]; mean: Float32Array[]; familiarity: number[]; reference: number }>;
  /** The scoring prototypes in the selected representation. */
  prototypes?: { key: string; rows: Float32Array; count: number };
}

/**
 * How clearly another representation or scoring must beat the default to be chosen: its mean gain over the default on
 * the same held-out demonstrations, in standard errors of that paired difference. A few demonstrations make the rates
 * coarse: with a fixed lead of 0.05 alone (the rule before), a 5-shot Fashion-MNIST draw went to the random branch on
 * a leave-one-out lead of 0.10 from 25 held-out demonstrations (1.1 standard errors), where the default of then (the
 * layers with edges by class mean) named 0.76 of the taught classes' test images and the random branch 0.67;
 * CIFAR-10's near-ties went to whichever candidate was luckier.
 */
const CHOICE_EVIDENCE = 2;
/**
 * A candidate no worse than the default on any held-out demonstration needs only this lead: with nothing against it,
 * one object taught from five frames (the demo's Pineapple) goes to its colour histogram, which names all five where
 * the trained layers miss one (then 32 of 32 later frames named, against 10 of 32).
 */
const CHOICE_LEAD_UNOPPOSED = 0.05;
/**
 * Predictions after which the taught prototypes and the kept training inputs are matched in one product instead of
 * two (one engine call and one quantisation of the input fewer: about 0.06 ms a prediction with 100 taught classes in
 * Fashion-MNIST's 3225-wide layers with edges). Joining them costs about 40 ms (Fruits-360: 100 classes and 512 kept
 * inputs of 3000 values), so the first predictions after a teach, the ones that show the new class, do without.
 */
const JOIN_AFTER = 20;
/** Demonstrations per class that the leave-one-out choice holds out (the first ones kept). */
const CHOICE_DEMOS = 10;
/** Taught classes (the most recently taught) that the choice looks at, so that teaching time stays bounded. */
const CHOICE_CLASSES = 24;
/**
 * The trained layers' share of 'layers+edges' (its cosine is this much of the layers' cosine plus the rest of the
 * edges'). The edges name taught shapes better; the layers know the trained classes, so they mostly help decide
 * whether an input is a taught class at all. Numpy check over 30 draws of 5-shot Fashion-MNIST (shoes, bags and shirts
 * taught to a 2-epoch garment model; the edges before their blur, by nearest demonstration): among all classes 0.594
 * with 0.2, 0.589 with 0.4, 0.581 with 0.5 (the earlier plain mean), edges alone 0.572; among the taught classes
 * 0.816, 0.797, 0.783 and 0.812. With the blur, 0.633 with 0.2 and 0.625 for the edges alone.
 */
const LAYERS_WEIGHT_WITH_EDGES = 0.2;
/** Candidate order: on equal leave-one-out scores the earlier one is chosen (the trained layers, then the cheapest). */
function candidates(config: NetworkConfig, withTrainedClasses: boolean, withReference: boolean): Representation[] {
  const trained = layerFamily(config);
  // Without a reference, taught classes meet trained ones on the trained layers' prototypes: only those compare.
  if (withTrainedClasses && !withReference) return trained;
  return [
    ...trained,
    ...(config.featureStage ? (['features'] as Representation[]) : []),
    'input',
    ...imageFeatures(config.inputShape),
    ...(config.teaching.transferLayers.length > 0 ? (['transfer'] as Representation[]) : []),
  ];
}

export class TaughtClasses {
  /** Aligned with the network's classes: the taught ones, null for trained classes. */
  private classes: (TaughtClass | null)[];
  private nextUid = 1;
  private selected: Representation | null = null;
  /**
   * How a taught class's prototypes score an input: 'nearest', the nearest demonstration's; 'mean', the mean of all
   * its demonstrations (one prototype). Chosen with the representation: views of one object (turntable frames) want
   * the nearest, varied pictures of a category (CIFAR-10) the mean.
   */
  private selectedScoring: TaughtScoring = 'nearest';
  /** A loaded file named no usable representation: it is chosen on first use (the loader may not compute). */
  private choicePending = false;
  /** Products of demonstrations kept from one choice to the next (keys name the classes' versions; see leaveOneOut). */
  private choiceValues = new Map<string, Float32Array>();
  private choiceValuesUsed = new Set<string>();
  /** During a choice, each class's augmented demonstrations, made once for every candidate representation. */
  private augmentedDuringChoice: Map<string, { data: Float32Array; copies: number; stackInput?: Float32Array }> | undefined;
  /** Leave-one-out score of each representation at the last choice. */
  choiceScores: Record<string, number> = {};
  /** Inputs of the trained classes kept by training (rows of inputSize); see setReference. */
  private reference: Float32Array | undefined;
  /** The reference as the first layer takes it (through the feature stage, when there is one). */
  private referenceStackInput: Float32Array | undefined;
  private referenceVersion = 0;
  /** The reference in each representation used so far (cleared when the weights or the reference change). */
  private referenceRows = new Map<Representation, Float32Array>();
  private branch: TransferBranch | undefined;
  /** Which taught classes exist and at which version, built once per change (every prediction compares it). */
  private classesKey: string | undefined;
  /**
   * Every taught class's prototypes on the engine (`matcher`; rebuilt when they change), and once they have served
   * JOIN_AFTER predictions, the same rows followed by the reference in one matrix (`joined`; `rows` kept until then).
   */
  private prototypeMatcher: { key: string; matcher: RowMatcher; owners: Int32Array; rows?: Float32Array; uses: number; joined?: RowMatcher } | undefined;
  /**
   * The reference on the engine, per representation: every teach compares every candidate with it, and building an
   * engine matcher (an onnx session) costs more than using it (first teach of CIFAR-10 2.6 s with one kept at a time).
   */
  private referenceMatchers = new Map<Representation, { key: string; matcher: RowMatcher }>();
  /** Per representation: each kept training input's similarity to the nearest other one. */
  private referenceNeighbours = new Map<Representation, Float32Array>();
  /** The margin in force for the current prototypes (see marginFor). */
  private scoringMargin: { key: string; margin: number } | undefined;
  /** Changes whenever the trained layers' weights change (every cached representation is then stale). */
  private weights = 0;

  constructor(
    private readonly source: LayerSource,
    classCount: number,
  ) {
    this.classes = Array.from({ length: classCount }, () => null);
  }

  get any(): boolean {
    return this.classes.some((c) => c !== null);
  }

  isTaught(c: number): boolean {
    return this.classes[c] !== null && this.classes[c] !== undefined;
  }

  get indices(): number[] {
    return this.classes.flatMap((c, i) => (c ? [i] : []));
  }

  demonstrationCount(c: number): number {
    return this.classes[c]?.demos.length ?? 0;
  }

  /** The representation taught classes are scored in (null until one is taught). */
  get representation(): Representation | null {
    if (this.choicePending) {
      this.choicePending = false;
      this.choose();
    }
    return this.any ? (this.selected ?? this.defaultRepresentation()) : null;
  }

  /** How taught classes are scored in the representation (see selectedScoring). */
  get scoring(): TaughtScoring {
    void this.representation;
    return this.selectedScoring;
  }

  get referenceSamples(): number {
    return this.reference ? this.reference.length / this.source.config.inputSize : 0;
  }

  /** A trained class was added (index = the new last class). */
  addTrainedClass(): void {
    this.classes.push(null);
    this.classesKey = undefined;
  }

  /**
   * Adds demonstrations to class `c` (creating it as a taught class when `create`); past `keepDemos` the most
   * redundant ones go. Then chooses the representation again.
   */
  addDemonstrations(c: number, x: Float32Array, n: number, create: boolean): void {
    const size = this.source.config.inputSize;
    if (create) {
      if (c !== this.classes.length) throw new Error(`internal: a new taught class must be the last class (${c} of ${this.classes.length})`);
      this.classes.push({ uid: this.nextUid++, demos: [], version: 0, rows: new Map() });
    }
    const entry = this.classes[c];
    if (!entry) return;
    for (let i = 0; i < n; i++) entry.demos.push(Float32Array.from(x.subarray(i * size, (i + 1) * size)));
    this.dropRedundant(entry);
    entry.version += 1;
    this.classesKey = undefined;
    this.choose();
  }

  /** Class `c` was trained by gradient: it is no longer a taught class. */
  markTrained(c: number): void {
    if (this.classes[c]) this.classes[c] = null;
    this.classesKey = undefined;
  }

  removeClass(c: number): void {
    this.classes.splice(c, 1);
    this.classesKey = undefined;
    if (this.any) {
      this.choose();
      return;
    }
    // Nothing left to score: the engine's copies of prototypes, reference and random branch go.
    this.selected = null;
    this.dispose();
  }

  /** The trained layers changed: every representation computed from them is stale, and so is the reference. */
  weightsChanged(): void {
    this.weights += 1;
    this.replaceReference(undefined);
  }

  /** Keeps `batch` inputs of the trained classes as the reference that taught classes must be nearer than. */
  setReference(x: Float32Array, batch: number): void {
    this.replaceReference(Float32Array.from(x.subarray(0, batch * this.source.config.inputSize)));
    if (this.any) this.choose();
  }

  /** A new reference (or none): everything computed from the old one goes. */
  private replaceReference(rows: Float32Array | undefined): void {
    this.reference = rows;
    this.referenceStackInput = undefined;
    this.referenceRows.clear();
    this.referenceNeighbours.clear();
    this.referenceVersion += 1;
  }

  /** Similarities of a batch to the taught classes and to the reference; `computed`: what the caller already has. */
  score(x: Float32Array, batch: number, computed: Computed = {}): TaughtScores {
    const k = this.classes.length;
    const scores = new Float32Array(batch * k).fill(NaN);
    const familiarity = new Float32Array(batch).fill(NaN);
    const rep = this.representation;
    if (!rep) return { scores, familiarity };
    const q = this.represent(rep, x, batch, computed);
    const { matcher, owners } = this.prototypesOnEngine(rep);
    const joined = this.joinedMatcherFor(rep);
    const rows = matcher.count;
    // The prototypes' rows first; with a reference, the kept inputs' after them (joined) or from their own matcher.
    const dots = (joined ?? matcher).dots(q, batch);
    const all = joined ? joined.count : rows;
    for (let b = 0; b < batch; b++) {
      for (let r = 0; r < rows; r++) {
        const at = b * k + owners[r];
        const v = dots[b * all + r];
        if (!(scores[at] >= v)) scores[at] = v;
      }
    }
    const reference = joined ? undefined : this.referenceOnEngine(rep);
    if (joined || reference) {
      const near = reference ? reference.dots(q, batch) : dots;
      const [from, width] = reference ? [0, reference.count] : [rows, all];
      const margin = this.scoringMarginFor(rep);
      for (let b = 0; b < batch; b++) {
        let best = -Infinity;
        for (let r = from; r < width; r++) best = Math.max(best, near[b * width + r]);
        familiarity[b] = best + margin;
      }
    }
    return { scores, familiarity };
  }

  /** Whether scoring needs every layer's output (a layer representation) rather than the input alone. */
  get usesLayers(): boolean {
    const rep = this.representation;
    return rep !== null && isLayerRepresentation(rep);
  }

  dispose(): void {
    this.branch?.dispose();
    this.branch = undefined;
    this.disposePrototypeMatcher();
    for (const { matcher } of this.referenceMatchers.values()) matcher.dispose();
    this.referenceMatchers.clear();
  }

  /** The margin with the current scoring prototypes (cached until they or the reference change). */
  private scoringMarginFor(rep: Representation): number {
    const { matcher } = this.prototypesOnEngine(rep);
    const key = `${this.prototypeMatcher?.key}|${this.referenceVersion}`;
    if (this.scoringMargin?.key !== key) this.scoringMargin = { key, margin: this.marginFor(rep, matcher) };
    return this.scoringMargin.margin;
  }

  /**
   * `teaching.margin`, raised until at most `maxTrainedLoss` of the kept training inputs would go to a taught class
   * whose prototypes `prototypes` holds: each kept input judged against the other kept inputs, as a new input of a
   * trained class is judged against all of them.
   */
  private marginFor(rep: Representation, prototypes: RowMatcher): number {
    const rows = this.referenceIn(rep);
    if (!rows || prototypes.count === 0) return this.source.config.teaching.margin;
    const dots = prototypes.dots(rows, this.referenceSamples);
    const count = prototypes.count;
    return this.marginFrom(rep, (i) => {
      let best = -Infinity;
      for (let j = 0; j < count; j++) best = Math.max(best, dots[i * count + j]);
      return best;
    });
  }

  /** The margin, given each kept input's similarity to its nearest taught prototype. */
  private marginFrom(rep: Representation, nearestTaught: (input: number) => number): number {
    const { margin, maxTrainedLoss } = this.source.config.teaching;
    const n = this.referenceSamples;
    const neighbours = this.referenceNeighboursIn(rep);
    const advantage = new Float64Array(n);
    for (let i = 0; i < n; i++) advantage[i] = nearestTaught(i) - neighbours[i];
    advantage.sort();
    const allowed = Math.floor(maxTrainedLoss * n);
    return Math.max(margin, allowed >= n ? -Infinity : advantage[n - 1 - allowed]);
  }

  private referenceNeighboursIn(rep: Representation): Float32Array {
    let near = this.referenceNeighbours.get(rep);
    if (!near) {
      const reference = this.referenceOnEngine(rep) as RowMatcher;
      const n = reference.count;
      const rows = this.referenceIn(rep) as Float32Array;
      near = new Float32Array(n);
      // In blocks, so that the n x n products never sit in memory at once.
      for (let from = 0; from < n; from += 128) {
        const m = Math.min(128, n - from);
        const dim = rows.length / n;
        const dots = reference.dots(rows.subarray(from * dim, (from + m) * dim), m);
        for (let i = 0; i < m; i++) {
          let best = -Infinity;
          for (let j = 0; j < n; j++) if (j !== from + i) best = Math.max(best, dots[i * n + j]);
          near[from + i] = best;
        }
      }
      this.referenceNeighbours.set(rep, near);
    }
    return near;
  }

  private disposePrototypeMatcher(): void {
    this.prototypeMatcher?.matcher.dispose();
    this.prototypeMatcher?.joined?.dispose();
    this.prototypeMatcher = undefined;
  }

  /**
   * The prototypes and the reference as one matrix, once the prototypes have served JOIN_AFTER predictions unchanged
   * (undefined before, and without a reference).
   */
  private joinedMatcherFor(rep: Representation): RowMatcher | undefined {
    const entry = this.prototypeMatcher;
    if (!entry?.rows) return entry?.joined;
    entry.uses += 1;
    if (entry.uses < JOIN_AFTER) return undefined;
    const reference = this.referenceIn(rep);
    const prototypes = entry.rows;
    entry.rows = undefined;
    if (!reference) return undefined;
    const both = new Float32Array(prototypes.length + reference.length);
    both.set(prototypes);
    both.set(reference, prototypes.length);
    entry.joined = this.source.engine.createMatcher(both, entry.matcher.count + this.referenceSamples, prototypes.length / entry.matcher.count);
    return entry.joined;
  }

  private prototypesOnEngine(rep: Representation): { matcher: RowMatcher; owners: Int32Array } {
    this.classesKey ??= this.classes.map((e, c) => (e ? `${c}:${e.uid}:${e.version}` : '')).join(',');
    const key = `${rep}|${this.selectedScoring}|${this.weights}|${this.classesKey}|${this.referenceVersion}`;
    if (this.prototypeMatcher?.key !== key) {
      const parts = this.classes.flatMap((e, c) => (e ? [{ c, ...this.prototypesOf(e, rep) }] : []));
      const dim = parts[0].rows.length / parts[0].count;
      const count = parts.reduce((a, p) => a + p.count, 0);
      const rows = new Float32Array(count * dim);
      const owners = new Int32Array(count);
      let at = 0;
      for (const p of parts) {
        rows.set(p.rows, at * dim);
        owners.fill(p.c, at, at + p.count);
        at += p.count;
      }
      this.disposePrototypeMatcher();
      this.prototypeMatcher = { key, matcher: this.source.engine.createMatcher(rows, count, dim), owners, rows, uses: 0 };
    }
    return this.prototypeMatcher;
  }

  private referenceOnEngine(rep: Representation): RowMatcher | undefined {
    const rows = this.referenceIn(rep);
    if (!rows) return undefined;
    const key = `${this.weights}|${this.referenceVersion}`;
    let entry = this.referenceMatchers.get(rep);
    if (entry?.key !== key) {
      // The weights or the reference changed: every representation's matcher is stale.
      for (const [r, stale] of this.referenceMatchers) {
        if (stale.key === key) continue;
        stale.matcher.dispose();
        this.referenceMatchers.delete(r);
      }
      const n = this.referenceSamples;
      entry = { key, matcher: this.source.engine.createMatcher(rows, n, rows.length / n) };
      this.referenceMatchers.set(rep, entry);
    }
    return entry.matcher;
  }

  /** Writes the demonstrations, the choice and the reference into model files. */
  writeFiles(manifest: Record<string, unknown>, tensors: Record<string, NamedTensor>): void {
    const size = this.source.config.inputSize;
    if (this.reference) {
      manifest.trainedReference = { samples: this.referenceSamples, kind: 'inputs' };
      tensors['trainedReference.inputs'] = { shape: [this.referenceSamples, size], data: Float32Array.from(this.reference) };
    }
    if (!this.any) return;
    const perClass = this.classes.map((e) => e?.demos.length ?? 0);
    const total = perClass.reduce((a, b) => a + b, 0);
    const data = new Float32Array(total * size);
    let offset = 0;
    for (const e of this.classes) for (const d of e?.demos ?? []) data.set(d, offset++ * size);
    tensors['teach.demos'] = { shape: [total, size], data };
    manifest.taught = { demos: perClass, representation: this.representation, scoring: this.scoring, choiceScores: { ...this.choiceScores } };
  }

  /** Reads what writeFiles wrote; a reference of an older kind (per-layer outputs) is not used. */
  readFiles(files: ModelFiles, source: string): void {
    const m = files.manifest as Record<string, unknown>;
    const size = this.source.config.inputSize;
    const r = m.trainedReference as { samples?: unknown; kind?: unknown } | undefined;
    if (r && r.kind === 'inputs') {
      const n = r.samples;
      const t = files.tensors['trainedReference.inputs'];
      if (!Number.isInteger(n) || (n as number) < 1 || !t || t.shape.length !== 2 || t.shape[0] !== n || t.shape[1] !== size) {
        throw new Error(`${source}: tensor trainedReference.inputs must have shape [${JSON.stringify(n)}, ${size}]`);
      }
      assertFinite('trainedReference.inputs', t.data);
      this.replaceReference(Float32Array.from(t.data));
    }
    const perClass = taughtDemoCounts(files, this.classes.length, source);
    if (!perClass) return;
    const taught = m.taught as { representation?: unknown; scoring?: unknown; choiceScores?: unknown };
    const total = perClass.reduce((a, b) => a + b, 0);
    const tensor = files.tensors['teach.demos'];
    if (total > 0 && (!tensor || tensor.shape.length !== 2 || tensor.shape[0] !== total || tensor.shape[1] !== size)) {
      throw new Error(`${source}: tensor teach.demos must have shape [${total}, ${size}]`);
    }
    let offset = 0;
    perClass.forEach((count, c) => {
      if (count === 0) return;
      const demos = Array.from({ length: count }, (_, i) => Float32Array.from(tensor.data.subarray((offset + i) * size, (offset + i + 1) * size)));
      offset += count;
      this.classes[c] = { uid: this.nextUid++, demos, version: 1, rows: new Map() };
      this.classesKey = undefined;
    });
    const rep = taught.representation;
    const usable = candidates(
      this.source.config,
      this.classes.some((e) => e === null),
      this.reference !== undefined,
    );
    const model = representationContext(this.source.config);
    if (isRepresentation(rep, model) && usable.includes(rep)) this.selected = rep;
    if (taught.scoring === 'mean' || taught.scoring === 'nearest') this.selectedScoring = taught.scoring;
    else this.choicePending = this.any;
    if (taught.choiceScores && typeof taught.choiceScores === 'object') {
      for (const [key, v] of Object.entries(taught.choiceScores as Record<string, unknown>)) {
        if (typeof v === 'number' && isRepresentation(key.replace(/ mean$/, ''), model)) this.choiceScores[key] = v;
      }
    }
  }

  private defaultRepresentation(): Representation {
    const fixed = this.source.config.teaching.representation;
    if (fixed !== 'auto') return fixed;
    const layers: Representation = this.source.config.layers.length > 1 ? 'layers' : 'layer:0';
    // Before there is clear evidence: trained layers (by the class mean) when there are some; otherwise the random
    // branch, which centres its input, so that frames sharing a background do not all look alike (untrained layers
    // may see them uncentred).
    if (this.classes.some((e) => e === null) || this.source.config.teaching.transferLayers.length === 0) {
      // Grey pictures have no colour to go by, and their outline is what tells shapes apart: by the nearest
      // demonstration's edges, taught Fashion-MNIST shoes, bags and shirts were named among all classes 0.610 of the
      // time from 5 photos, by the trained layers' class means 0.545 (bench/TEACH.md). A numpy check on 30 other draws
      // gave the edges 0.625, the layers with edges 0.633 by nearest demonstration and 0.576 by class mean; the layers
      // with edges by nearest demonstration cost 2.3-2.7 times a prediction without taught classes once 100 classes
      // of 20 demonstrations are taught, the edges 1.7 times. Colour images keep the trained layers: colour or the
      // layers win there (Fruits-360, CIFAR-10), and as their default the layers with edges kept the demo's Pineapple
      // (five near-identical frames) from its colour histogram (15 of 32 later frames named instead of 32 of 32).
      return this.source.config.inputShape?.[2] === 1 ? 'edges' : layers;
    }
    return 'transfer';
  }

  /**
   * Chooses the representation in which a held-out demonstration is most often nearest to its own class's other
   * demonstrations, and (with a reference) nearer to them than to any kept training input: the score is the mean of
   * the two rates.
   */
  private choose(): void {
    this.choiceScores = {};
    if (this.source.config.teaching.representation !== 'auto') {
      this.selected = this.source.config.teaching.representation;
      this.selectedScoring = 'nearest';
      return;
    }
    const taught = this.classes.filter((e): e is TaughtClass => e !== null);
    const withReference = this.reference !== undefined;
    const withTrained = this.classes.some((e) => e === null);
    const pool = taught.slice(-CHOICE_CLASSES);
    const held = pool.filter((e) => e.demos.length >= 2);
    // Among the taught classes alone, one class cannot be told apart from anything.
    if (held.length === 0 || (!withReference && pool.length < 2)) {
      this.selected = null;
      this.selectedScoring = 'nearest';
      return;
    }
    const tried: { rep: Representation; scoring: TaughtScoring; outcome: LeaveOneOutOutcome }[] = [];
    this.choiceValuesUsed.clear();
    this.augmentedDuringChoice = new Map();
    try {
      for (const rep of candidates(this.source.config, withTrained, withReference)) {
        const outcomes = this.leaveOneOut(rep, pool, withReference);
        for (const scoring of ['nearest', 'mean'] as const) {
          this.choiceScores[scoring === 'mean' ? `${rep} mean` : rep] = outcomes[scoring].score;
          tried.push({ rep, scoring, outcome: outcomes[scoring] });
        }
      }
    } finally {
      this.augmentedDuringChoice = undefined;
    }
    for (const key of this.choiceValues.keys()) if (!this.choiceValuesUsed.has(key)) this.choiceValues.delete(key);
    // The default stands unless another choice is clearly better; among those that are, the best one. Without the
    // default among the candidates, the best one.
    const fallback = this.defaultRepresentation();
    // The trained layers compare by class mean (CIFAR-10's varied pictures of a category); views of one object, and
    // shapes by their edges, by the nearest demonstration.
    const fallbackScoring: TaughtScoring = withTrained && isLayerRepresentation(fallback) ? 'mean' : 'nearest';
    const standing = tried.find((t) => t.rep === fallback && t.scoring === fallbackScoring);
    let best: Representation | null = standing ? fallback : null;
    let bestScoring: TaughtScoring = standing ? fallbackScoring : 'nearest';
    let bestScore = -Infinity;
    for (const { rep, scoring, outcome } of tried) {
      if (standing && !clearlyBetter(outcome.each, standing.outcome.each)) continue;
      if (outcome.score > bestScore) {
        best = rep;
        bestScoring = scoring;
        bestScore = outcome.score;
      }
    }
    // The random branch stays while taught classes exist, even when not chosen: rebuilding it for every teach's
    // comparison cost about a second on 32x32 colour inputs.
    this.selected = best;
    this.selectedScoring = bestScoring;
  }

  private leaveOneOut(rep: Representation, pool: TaughtClass[], withReference: boolean): Record<TaughtScoring, LeaveOneOutOutcome> {
    const rows = pool.map((e) => this.rowsOf(e, rep, Math.min(CHOICE_DEMOS, e.demos.length), withReference));
    const keys = pool.map((e, c) => `${rep}|${this.weights}|${e.uid}:${e.version}:${rows[c].query.length}`);
    let margin = this.source.config.teaching.margin;
    if (withReference) {
      // Per kept input, its similarity to the nearest demonstration mean of each class (the kept inputs are on the
      // engine already), then of any class.
      const nearest = pool.map((_, c) =>
        this.choiceCached(`reference|${this.referenceVersion}|${keys[c]}`, () => {
          const means = rows[c].mean;
          const dim = means[0].length;
          const flat = new Float32Array(means.length * dim);
          means.forEach((m, i) => flat.set(m, i * dim));
          const reference = this.referenceOnEngine(rep) as RowMatcher;
          const dots = reference.dots(flat, means.length);
          const best = new Float32Array(reference.count).fill(-Infinity);
          for (let j = 0; j < means.length; j++) for (let i = 0; i < reference.count; i++) best[i] = Math.max(best[i], dots[j * reference.count + i]);
          return best;
        }),
      );
      margin = this.marginFrom(rep, (i) => nearest.reduce((best, b) => Math.max(best, b[i]), -Infinity));
    }
    // Two counts: held-out demonstrations named right among the taught classes, and among all classes (also nearer
    // than the kept training inputs). Both count: where no representation lets taught classes past the trained ones
    // (look-alike data), the ranking among the taught classes still decides. Ties go to the larger lead.
    const tally: Record<TaughtScoring, Tally> = { nearest: { taught: 0, all: 0, lead: 0, each: [] }, mean: { taught: 0, all: 0, lead: 0, each: [] } };
    let counted = 0;
    // Similarities of every held-out demonstration to every class's demonstration means, as blocks per pair of
    // classes (kept across teaches: a teach computes only the new class's). The class-mean scoring needs only sums of
    // them: q . (sum of means) is the sum of the q . mean, and |sum of means| comes from the means' own products.
    const pair = (a: number, b: number) => this.choiceCached(`pair|${keys[a]}|${keys[b]}`, () => dotBlock(rows[a].query, rows[b].mean));
    const sumNorms = rows.map((r, c) => {
      const self = this.choiceCached(`means|${keys[c]}`, () => dotBlock(r.mean, r.mean));
      let sq = 0;
      for (let i = 0; i < self.length; i++) sq += self[i];
      // Per held-out demonstration i: |sum - mean_i|^2 = |sum|^2 - 2 sum . mean_i + 1 (unit means).
      const n = r.mean.length;
      const without = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let row = 0;
        for (let j = 0; j < n; j++) row += self[i * n + j];
        without[i] = Math.sqrt(Math.max(0, sq - 2 * row + 1));
      }
      return { whole: Math.sqrt(Math.max(0, sq)), without };
    });
    pool.forEach((_, ci) => {
      const own = rows[ci];
      const n = own.query.length;
      if (n < 2) return;
      const self = pair(ci, ci);
      const others = rows.map((_r, cj) => (cj === ci ? undefined : pair(ci, cj)));
      for (let i = 0; i < n; i++) {
        const competitorOf = (other: number) => (withReference ? Math.max(other, own.familiarity[i] + margin) : other);
        const count = (t: Tally, ownScore: number, other: number) => {
          const taught = ownScore > other ? 1 : 0;
          const all = ownScore > competitorOf(other) ? 1 : 0;
          t.taught += taught;
          t.all += all;
          t.each.push((taught + all) / 2);
          t.lead += Math.max(-1, Math.min(1, ownScore - competitorOf(other)));
        };
        let ownBest = -Infinity;
        let ownRest = 0;
        for (let j = 0; j < n; j++) {
          if (j === i) continue;
          ownBest = Math.max(ownBest, self[i * n + j]);
          ownRest += self[i * n + j];
        }
        let otherBest = -Infinity;
        let otherMean = -Infinity;
        others.forEach((block, cj) => {
          if (!block) return;
          const m = rows[cj].mean.length;
          let sum = 0;
          for (let j = 0; j < m; j++) {
            const v = block[i * m + j];
            otherBest = Math.max(otherBest, v);
            sum += v;
          }
          if (sumNorms[cj].whole > 0) otherMean = Math.max(otherMean, sum / sumNorms[cj].whole);
        });
        count(tally.nearest, ownBest, otherBest);
        const restNorm = sumNorms[ci].without[i];
        count(tally.mean, restNorm > 0 ? ownRest / restNorm : 0, otherMean);
        counted += 1;
      }
    });
    const outcome = (t: Tally): LeaveOneOutOutcome => ({
      score: counted > 0 ? (t.taught + t.all) / (2 * counted) + (t.lead / counted) * 1e-3 : 0,
      each: t.each,
    });
    return { nearest: outcome(tally.nearest), mean: outcome(tally.mean) };
  }

  /** A value of the leave-one-out choice kept while the choices after it still use it (see choose). */
  private choiceCached(key: string, compute: () => Float32Array): Float32Array {
    let value = this.choiceValues.get(key);
    if (!value) {
      value = compute();
      this.choiceValues.set(key, value);
    }
    this.choiceValuesUsed.add(key);
    return value;
  }

  /** The first `upTo` demonstrations of `entry` in `rep`: each one itself, its copies' mean, its familiarity. */
  private rowsOf(entry: TaughtClass, rep: Representation, upTo: number, withFamiliarity: boolean) {
    // The layer representations come from one pass through the layers, so they are computed together.
    const family = isLayerRepresentation(rep) ? layerFamily(this.source.config) : [rep];
    const caches = family.map((f) => {
      let c = entry.rows.get(f);
      if (!c || c.weights !== this.weights) {
        c = { weights: this.weights, query: [], mean: [], familiarity: [], reference: this.referenceVersion };
        entry.rows.set(f, c);
      }
      return c;
    });
    const have = Math.min(...caches.map((c) => c.query.length));
    if (have < upTo) {
      const size = this.source.config.inputSize;
      const n = upTo - have;
      const key = `${entry.uid}:${entry.version}:${have}:${upTo}`;
      let aug = this.augmentedDuringChoice?.get(key);
      if (!aug) {
        const x = new Float32Array(n * size);
        for (let i = 0; i < n; i++) x.set(entry.demos[have + i], i * size);
        aug = augmentDemonstrations(x, n, this.source.config.inputShape, this.source.config.teaching.augment);
        this.augmentedDuringChoice?.set(key, aug);
      }
      const rows = n * aug.copies;
      // A feature stage's vectors of these copies serve the stage, the layers and the random branch alike.
      aug.stackInput ??= this.source.stackInput(aug.data, rows);
      const stackInput = aug.stackInput;
      const layers = isLayerRepresentation(rep) ? this.source.layerOutputs(stackInput, rows) : undefined;
      family.forEach((f, fi) => {
        const c = caches[fi];
        c.query.length = have;
        c.mean.length = have;
        const z = this.represent(f, aug.data, rows, { layers, stackInput });
        const dim = z.length / rows;
        for (let i = 0; i < n; i++) {
          const mean = new Float32Array(dim);
          for (let k = 0; k < aug.copies; k++) {
            const o = (i * aug.copies + k) * dim;
            for (let j = 0; j < dim; j++) mean[j] += z[o + j];
          }
          c.query.push(Float32Array.from(z.subarray(i * aug.copies * dim, (i * aug.copies + 1) * dim)));
          c.mean.push(normalizeInPlace(mean));
        }
      });
    }
    const r = caches[family.indexOf(rep)];
    if (r.reference !== this.referenceVersion) {
      r.familiarity = [];
      r.reference = this.referenceVersion;
    }
    if (withFamiliarity && r.familiarity.length < upTo) {
      const reference = this.referenceOnEngine(rep);
      if (reference) {
        const from = r.familiarity.length;
        const dim = r.query[0].length;
        const q = new Float32Array((upTo - from) * dim);
        for (let i = from; i < upTo; i++) q.set(r.query[i], (i - from) * dim);
        const near = reference.dots(q, upTo - from);
        const n = reference.count;
        for (let i = 0; i < upTo - from; i++) {
          let best = -Infinity;
          for (let j = 0; j < n; j++) best = Math.max(best, near[i * n + j]);
          r.familiarity.push(best);
        }
      }
    }
    return { query: r.query.slice(0, upTo), mean: r.mean.slice(0, upTo), familiarity: r.familiarity.slice(0, upTo) };
  }

  /**
   * The scoring prototypes of a class: per demonstration, the mean of it and its augmented copies, merged by k-means
   * past `prototypes`. (The copies themselves as prototypes made taught classes take 3 points of the trained classes'
   * accuracy on Fruits-360, against 1 with their means, for no gain among the taught classes.)
   */
  private prototypesOf(entry: TaughtClass, rep: Representation): { rows: Float32Array; count: number } {
    const key = `${rep}|${this.selectedScoring}|${this.weights}|${entry.version}`;
    if (entry.prototypes?.key === key) return entry.prototypes;
    const { mean } = this.rowsOf(entry, rep, entry.demos.length, false);
    const dim = mean[0].length;
    const limit = this.source.config.teaching.prototypes;
    const merged = this.selectedScoring === 'mean' ? [classMean(mean)] : mean.length > limit ? sphericalKMeans(mean, limit) : mean;
    const rows = new Float32Array(merged.length * dim);
    merged.forEach((m, i) => rows.set(m, i * dim));
    entry.prototypes = { key, rows, count: merged.length };
    return entry.prototypes;
  }

  private referenceIn(rep: Representation): Float32Array | undefined {
    if (!this.reference) return undefined;
    let rows = this.referenceRows.get(rep);
    if (!rows) {
      // One pass through the feature stage serves every representation, one through the layers every layer one.
      this.referenceStackInput ??= this.source.stackInput(this.reference, this.referenceSamples);
      const stackInput = this.referenceStackInput;
      const layers = isLayerRepresentation(rep) ? this.source.layerOutputs(stackInput, this.referenceSamples) : undefined;
      for (const r of isLayerRepresentation(rep) ? layerFamily(this.source.config) : [rep]) {
        this.referenceRows.set(r, this.represent(r, this.reference, this.referenceSamples, { layers, stackInput }));
      }
      rows = this.referenceRows.get(rep) as Float32Array;
    }
    return rows;
  }

  /** Unit rows (batch x width) of a batch in a representation. */
  private represent(rep: Representation, x: Float32Array, batch: number, computed: Computed = {}): Float32Array {
    const config = this.source.config;
    const stacked = () => computed.stackInput ?? this.source.stackInput(x, batch);
    if (rep === 'input') {
      const out = Float32Array.from(x.subarray(0, batch * config.inputSize));
      for (let b = 0; b < batch; b++) normalizeInPlace(out.subarray(b * config.inputSize, (b + 1) * config.inputSize));
      return out;
    }
    if (rep === 'transfer') return this.transferBranch().features(stacked(), batch);
    if (rep === 'features') {
      const out = stacked();
      const width = out.length / batch;
      const rows = Float32Array.from(out);
      for (let b = 0; b < batch; b++) normalizeInPlace(rows.subarray(b * width, (b + 1) * width));
      return rows;
    }
    if (rep === 'colour' || rep === 'edges') {
      const shape = config.inputShape;
      if (!shape) throw new Error(`internal: the '${rep}' representation needs an image shape`);
      return rep === 'colour' ? colourHistogram(x, batch, shape) : edgeHistogram(x, batch, shape);
    }
    const z = computed.layers ?? this.source.layerOutputs(stacked(), batch);
    if (rep === 'layers+edges') {
      // Each layer's rows and the edges' side by side in one pass: the layers' share split evenly between them.
      const share = LAYERS_WEIGHT_WITH_EDGES / z.length;
      return concatenateUnitRows([...z, this.represent('edges', x, batch)], batch, [...z.map(() => share), 1 - LAYERS_WEIGHT_WITH_EDGES]);
    }
    if (rep !== 'layers') return z[Number(rep.slice('layer:'.length))];
    return concatenateUnitRows(z, batch);
  }

  private transferBranch(): TransferBranch {
    if (!this.branch) {
      const { config, engine } = this.source;
      const t = config.teaching;
      const input = { centerInput: config.centerInput || t.transferCenterInput, normalizeInput: config.normalizeInput };
      this.branch = new TransferBranch(engine, stackInputSize(config), t.transferLayers, t.transferSeed, input, config.optimizer);
    }
    return this.branch;
  }

  /** Past keepDemos, drops the demonstration closest to another one (it adds the least) until the class fits. */
  private dropRedundant(entry: TaughtClass): void {
    const keep = this.source.config.teaching.keepDemos;
    if (entry.demos.length <= keep) return;
    const unit = entry.demos.map((d) => normalizeInPlace(Float32Array.from(d)));
    while (unit.length > keep) {
      let drop = 0;
      let closest = -Infinity;
      for (let i = 0; i < unit.length; i++) {
        for (let j = i + 1; j < unit.length; j++) {
          const s = dot(unit[i], unit[j]);
          if (s > closest) {
            closest = s;
            // Of the two, the older one goes: the newer shows the part as it looks now.
            drop = i;
          }
        }
      }
      unit.splice(drop, 1);
      entry.demos.splice(drop, 1);
    }
    entry.rows.clear();
  }
}

function representationContext(config: NetworkConfig): RepresentationContext {
  return { layers: config.layers.length, inputShape: config.inputShape, featureStage: config.featureStage !== undefined };
}

function isLayerRepresentation(rep: Representation): boolean {
  return rep === 'layers' || rep === 'layers+edges' || rep.startsWith('layer:');
}

/** The representations computed from one pass through the trained layers, in candidate order. */
function layerFamily(config: NetworkConfig): Representation[] {
  const layers = config.layers.map((_, l) => `layer:${l}` as Representation);
  const all: Representation[] = config.layers.length > 1 ? ['layers', ...layers] : layers;
  return config.inputShape ? [...all, 'layers+edges'] : all;
}

/**
 * Unit rows side by side, each part scaled by the square root of its weight (1/parts when none are given): unit rows
 * whose cosines are the weighted mean of the parts' cosines.
 */
function concatenateUnitRows(parts: Float32Array[], batch: number, weights?: number[]): Float32Array {
  const widths = parts.map((p) => p.length / batch);
  const width = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(batch * width);
  const scales = parts.map((_, i) => Math.sqrt(weights ? weights[i] : 1 / parts.length));
  for (let b = 0; b < batch; b++) {
    let o = b * width;
    parts.forEach((p, i) => {
      const w = widths[i];
      const scale = scales[i];
      for (let u = 0; u < w; u++) out[o + u] = p[b * w + u] * scale;
      o += w;
    });
  }
  return out;
}

interface Tally {
  taught: number;
  all: number;
  lead: number;
  /** Per held-out demonstration: (named right among the taught classes + among all classes) / 2. */
  each: number[];
}

interface LeaveOneOutOutcome {
  /** The mean of `each`, ties broken by the mean lead over the nearest competitor. */
  score: number;
  each: number[];
}

/**
 * Whether held-out outcomes `a` beat `b` (the same held-out demonstrations, in the same order) clearly: by
 * CHOICE_EVIDENCE standard errors of their paired difference, or by CHOICE_LEAD_UNOPPOSED without being worse on any.
 */
export function clearlyBetter(a: readonly number[], b: readonly number[]): boolean {
  const n = Math.min(a.length, b.length);
  if (n === 0) return false;
  let sum = 0;
  let worse = false;
  for (let i = 0; i < n; i++) {
    sum += a[i] - b[i];
    if (a[i] < b[i]) worse = true;
  }
  const mean = sum / n;
  if (mean <= 0) return false;
  if (!worse && mean >= CHOICE_LEAD_UNOPPOSED) return true;
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (a[i] - b[i] - mean) ** 2;
  // Every demonstration gained the same: no spread to weigh the gain against.
  if (squares === 0) return true;
  const standardError = Math.sqrt(squares / (n - 1) / n);
  return mean >= CHOICE_EVIDENCE * standardError;
}

/** Every row of `a` against every row of `b`: a.length x b.length dot products, row-major. */
function dotBlock(a: Float32Array[], b: Float32Array[]): Float32Array {
  const out = new Float32Array(a.length * b.length);
  a.forEach((x, i) => b.forEach((y, j) => (out[i * b.length + j] = dot(x, y))));
  return out;
}

/** The unit mean direction of unit rows. */
function classMean(rows: Float32Array[]): Float32Array {
  const sum = new Float32Array(rows[0].length);
  for (const r of rows) for (let j = 0; j < sum.length; j++) sum[j] += r[j];
  return normalizeInPlace(sum);
}

/** `k` unit centres of unit rows: farthest-point start (deterministic), then a few rounds of spherical k-means. */
export function sphericalKMeans(rows: Float32Array[], k: number): Float32Array[] {
  const centres: Float32Array[] = [Float32Array.from(rows[0])];
  const closest = rows.map((r) => dot(r, centres[0]));
  while (centres.length < k) {
    let far = 0;
    for (let i = 1; i < rows.length; i++) if (closest[i] < closest[far]) far = i;
    centres.push(Float32Array.from(rows[far]));
    rows.forEach((r, i) => (closest[i] = Math.max(closest[i], dot(r, centres[centres.length - 1]))));
  }
  const dim = rows[0].length;
  for (let round = 0; round < 5; round++) {
    const sums = centres.map(() => new Float32Array(dim));
    for (const r of rows) {
      let best = 0;
      let bestSim = -Infinity;
      centres.forEach((c, j) => {
        const s = dot(r, c);
        if (s > bestSim) {
          bestSim = s;
          best = j;
        }
      });
      for (let j = 0; j < dim; j++) sums[best][j] += r[j];
    }
    // A centre that lost every row keeps its place.
    sums.forEach((s, j) => {
      if (s.some((v) => v !== 0)) centres[j] = normalizeInPlace(s);
    });
  }
  return centres;
}
