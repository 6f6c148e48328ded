/**
 * The classes of a network: their names, how many examples or demonstrations shaped each, and their prototypes at
 * every layer. Adding, refining, merging, forgetting and renaming a class happen here, on the prototypes alone (the
 * weights stay as they are); a class created by teaching is imprinted from the mean representation of its
 * demonstrations and keeps them in the taught classes (TaughtClasses).
 */
import { type Engine, type EngineLayer, prototypeWidth } from '../engines/types';
import type { NetworkConfig } from './config';
import { assertClassName, assertClassNames } from './class-names';
import type { TaughtClasses } from './taught-classes';
import { augmentDemonstrations } from './teaching';
import { assertFinite, dot, normalizeInPlace, row } from './vectors';

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
  /** The network's version after the call. */
  version: number;
  /** Per layer, cosine between the demonstrations' mean and the class prototype before the update (null if new). */
  similarityBefore: (number | null)[];
  /** Per layer, the sum of the applied demonstrations' unit representations (what fleet sharing merges). */
  sums: Float32Array[];
}

/** What the class book works on: the network's layer stack, its engine and its settings. */
export interface LayerStack {
  readonly engine: Engine;
  readonly config: NetworkConfig;
  readonly layers: readonly EngineLayer[];
  /** What the first layer takes for a batch of inputs (the feature stage's output, when the model has one). */
  stackInput(x: Float32Array, batch: number): Float32Array;
}

export class ClassBook {
  constructor(
    private readonly stack: LayerStack,
    private readonly taught: TaughtClasses,
    readonly classes: string[],
    /** Training examples or demonstrations seen per class. */
    readonly counts: number[],
  ) {}

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

  requireClass(label: string | number): number {
    const index = this.classIndex(label);
    if (index === undefined) throw new Error(`unknown class '${label}'; known classes: ${this.classes.join(', ') || '(none)'}`);
    return index;
  }

  /**
   * Adds or updates a class from demonstrations, at every layer: a new class's prototypes are imprinted from the
   * normalised mean of the demonstrations' representations. `changed` says whether any prototype or class changed.
   */
  teach(label: string | number, examples: Float32Array, n: number, options: TeachOptions = {}): Omit<TeachResult, 'version'> & { changed: boolean } {
    const { config, engine, layers } = this.stack;
    const mode = options.mode ?? 'mean';
    const rate = options.rate ?? config.emaRate;
    const meanOf = options.meanOf ?? Infinity;
    if (mode !== 'mean' && mode !== 'ema') throw new Error(`teach mode must be 'mean' or 'ema', got ${JSON.stringify(mode)}`);
    if (!(rate > 0 && rate <= 1)) throw new Error(`teach rate must be in (0, 1], got ${rate}`);
    if (!(meanOf >= 1)) throw new Error(`teach meanOf must be at least 1, got ${meanOf}`);
    if (typeof label === 'string') assertClassName(label, 'label');
    if (!Number.isInteger(n) || n < 1 || examples.length !== n * config.inputSize) {
      throw new Error(`demonstrations: expected ${n} vector(s) of length ${config.inputSize}, got ${examples.length} values`);
    }
    const known = this.classIndex(label);
    const created = known === undefined;
    const index = created ? this.classes.length : known;
    const previousCount = created ? 0 : this.counts[index];
    const applied = mode === 'mean' ? Math.max(0, Math.min(n, meanOf - previousCount)) : n;
    // Each demonstration is imprinted as the mean of its augmented copies (small shifts, flips for colour images).
    const aug = augmentDemonstrations(examples, n, config.inputShape, config.teaching.augment);
    const outputs = engine.forwardStack(layers, this.stack.stackInput(aug.data, n * aug.copies), n * aug.copies, 'all');
    const copies = aug.copies;
    const m = config.prototypesPerClass;
    const similarityBefore: (number | null)[] = [];
    const sums: Float32Array[] = [];
    layers.forEach((layer, l) => {
      const units = prototypeWidth(layer.spec);
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
        const s = dot(row(current, index * m + j, units), mean);
        if (s > nearestSim) {
          nearestSim = s;
          nearest = j;
        }
      }
      similarityBefore.push(nearestSim);
      if (applied === 0) return;
      const p = row(current, index * m + nearest, units);
      for (let u = 0; u < units; u++) {
        p[u] = mode === 'ema' ? (1 - rate) * p[u] + rate * mean[u] : previousCount * p[u] + sum[u];
      }
      normalizeInPlace(p);
      layer.setPrototypes(current);
    });
    if (created) {
      this.classes.push(String(label));
      this.counts.push(0);
    }
    this.counts[index] += applied;
    // Classes created by teaching keep their demonstrations: they are scored by their nearest one (TaughtClasses).
    if (created || this.taught.isTaught(index)) {
      const add = mode === 'mean' ? applied : n;
      if (add > 0 || created) this.taught.addDemonstrations(index, examples.subarray(0, add * config.inputSize), add, created);
    }
    const changed = applied > 0 || created;
    return { label: this.classes[index], index, created, count: this.counts[index], applied, mode, similarityBefore, sums, changed };
  }

  /**
   * Sets a class's prototypes at every layer to the given directions (normalised here), creating the class if
   * needed; used to apply prototypes merged from elsewhere (other robots of a fleet).
   */
  setPrototypes(label: string, perLayer: Float32Array[], count: number): { label: string; index: number; created: boolean } {
    const { config, layers } = this.stack;
    if (perLayer.length !== layers.length) {
      throw new Error(`expected prototypes for ${layers.length} layers, got ${perLayer.length}`);
    }
    perLayer.forEach((v, l) => {
      if (v.length !== prototypeWidth(layers[l].spec)) {
        throw new Error(`layer ${l}: expected a prototype of length ${prototypeWidth(layers[l].spec)}, got ${v.length}`);
      }
      assertFinite(`prototype of layer ${l}`, v);
    });
    const known = this.classIndex(label);
    const created = known === undefined;
    if (created) assertClassNames([...this.classes, label]);
    const index = created ? this.classes.length : known;
    const m = config.prototypesPerClass;
    layers.forEach((layer, l) => {
      const units = prototypeWidth(layer.spec);
      const unit = normalizeInPlace(Float32Array.from(perLayer[l]));
      const current = layer.readPrototypes();
      const next = created ? new Float32Array(current.length + m * units) : current;
      if (created) next.set(current);
      for (let j = 0; j < m; j++) next.set(unit, (index * m + j) * units);
      layer.setPrototypes(next);
    });
    if (created) {
      this.classes.push(label);
      this.counts.push(0);
      this.taught.addTrainedClass();
    }
    this.counts[index] = count;
    return { label, index, created };
  }

  /** Removes a class and its prototypes at every layer. */
  forget(label: string | number): { label: string; index: number } {
    const index = this.requireClass(label);
    const m = this.stack.config.prototypesPerClass;
    for (const layer of this.stack.layers) {
      const units = prototypeWidth(layer.spec);
      const current = layer.readPrototypes();
      const kept = new Float32Array(current.length - m * units);
      kept.set(current.subarray(0, index * m * units));
      kept.set(current.subarray((index + 1) * m * units), index * m * units);
      layer.setPrototypes(kept);
    }
    const [name] = this.classes.splice(index, 1);
    this.counts.splice(index, 1);
    this.taught.removeClass(index);
    return { label: name, index };
  }

  rename(label: string | number, newName: string): { label: string; previous: string; index: number } {
    const index = this.requireClass(label);
    assertClassNames([newName]);
    if (this.classes.includes(newName) && this.classes[index] !== newName) {
      throw new Error(`cannot rename to '${newName}': a class of that name exists`);
    }
    const previous = this.classes[index];
    this.classes[index] = newName;
    return { label: newName, previous, index };
  }

  /**
   * Counts a trained batch's labels; classes trained by gradient are no longer taught ones, and are scored like
   * every trained class from then on.
   */
  recordTraining(labels: Int32Array): void {
    for (const label of labels) this.counts[label] += 1;
    for (const l of new Set(labels)) this.taught.markTrained(l);
    this.taught.weightsChanged();
  }
}
