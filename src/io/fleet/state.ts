import { canonicalBody, FLEET_FORMAT, FleetRejection, type FleetUpdate } from './format';

/** Outcome of offering an update to the state. */
export type OfferResult = 'applied' | 'duplicate' | 'stale';

/** A class's merged state over every origin. */
export interface MergedClass {
  label: string;
  /** Per layer, Σ over origins of their sums (accumulated in float64, in sorted origin order). */
  sums: Float64Array[];
  /** Σ over origins of their counts. */
  count: number;
  /** Contributing origins, sorted. */
  origins: string[];
}

/** Extra fields stamped on local contributions. */
export interface LocalStamp {
  model?: string;
  session?: string;
  sentAt?: number;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The fleet's knowledge as a set of contributions, one per (class, origin), each the latest
 * version that origin published. Merging is a pure function of that set, so it does not depend on
 * the order updates arrived in, and offering the same update again changes nothing.
 */
export class FleetState {
  readonly layers: number[];
  readonly #classes = new Map<string, Map<string, FleetUpdate>>();

  constructor(layers: readonly number[]) {
    if (!Array.isArray(layers) || layers.length === 0 || layers.some((n) => !Number.isSafeInteger(n) || n < 1)) {
      throw new Error('FleetState needs the units of every layer, e.g. [64, 32]');
    }
    this.layers = [...layers];
  }

  /**
   * Keeps `update` if it is newer than what is known from its origin for its class. Equal versions
   * with different content (two processes claiming one origin) resolve to the one whose canonical
   * serialisation sorts last, so every instance still ends up with the same choice.
   */
  offer(update: FleetUpdate): OfferResult {
    this.#checkShape(update);
    let perOrigin = this.#classes.get(update.class);
    const existing = perOrigin?.get(update.origin);
    if (existing) {
      if (update.version < existing.version) return 'stale';
      if (update.version === existing.version) {
        const order = compareStrings(canonicalBody(update), canonicalBody(existing));
        if (order === 0) return 'duplicate';
        if (order < 0) return 'stale';
      }
    }
    if (!perOrigin) {
      perOrigin = new Map();
      this.#classes.set(update.class, perOrigin);
    }
    perOrigin.set(update.origin, update);
    return 'applied';
  }

  /**
   * Adds demonstrations taught on this instance to its own contribution for `label` and returns
   * the new version (unsigned) to publish.
   */
  addLocal(origin: string, label: string, sums: readonly ArrayLike<number>[], count: number, stamp: LocalStamp = {}): FleetUpdate {
    if (!Number.isSafeInteger(count) || count < 0) throw new Error(`demonstration count must be an integer >= 0, got ${count}`);
    if (sums.length !== this.layers.length) throw new Error(`expected sums for ${this.layers.length} layers, got ${sums.length}`);
    const previous = this.contribution(label, origin);
    const next: number[][] = this.layers.map((units, l) => {
      const s = sums[l];
      if (!s || s.length !== units) throw new Error(`layer ${l}: expected a sum of length ${units}, got ${s?.length}`);
      const out = previous ? [...previous.sums[l]] : new Array<number>(units).fill(0);
      for (let u = 0; u < units; u++) {
        const v = Number(s[u]);
        if (!Number.isFinite(v)) throw new Error(`layer ${l}: the sum holds a non-finite value`);
        out[u] += v;
      }
      return out;
    });
    const update: FleetUpdate = {
      format: FLEET_FORMAT,
      origin,
      class: label,
      version: (previous?.version ?? 0) + 1,
      count: (previous?.count ?? 0) + count,
      layers: [...this.layers],
      sums: next,
      ...stripUndefined(stamp),
    };
    this.offer(update);
    return update;
  }

  /**
   * Folds a contribution published by an earlier run of this same origin into the current one
   * (which then holds only what was taught since the start): used once per class after a restart
   * so that nothing taught before or after it is lost. Returns the combined update to publish.
   */
  absorbPrevious(previous: FleetUpdate, stamp: LocalStamp = {}): FleetUpdate {
    this.#checkShape(previous);
    const current = this.contribution(previous.class, previous.origin);
    if (!current) {
      const adopted = { ...previous };
      delete adopted.signature;
      this.#set(adopted);
      return adopted;
    }
    const combined: FleetUpdate = {
      format: FLEET_FORMAT,
      origin: previous.origin,
      class: previous.class,
      version: previous.version + current.version,
      count: previous.count + current.count,
      layers: [...this.layers],
      sums: this.layers.map((units, l) => Array.from({ length: units }, (_, u) => previous.sums[l][u] + current.sums[l][u])),
      ...stripUndefined(stamp),
    };
    this.#set(combined);
    return combined;
  }

  /** The latest contribution of `origin` to `label`, if any. */
  contribution(label: string, origin: string): FleetUpdate | undefined {
    return this.#classes.get(label)?.get(origin);
  }

  /** Every contribution, sorted by class then origin (what a node republishes or shows). */
  contributions(origin?: string): FleetUpdate[] {
    const out: FleetUpdate[] = [];
    for (const label of this.classes()) {
      const perOrigin = this.#classes.get(label) as Map<string, FleetUpdate>;
      for (const o of [...perOrigin.keys()].sort(compareStrings)) {
        if (origin === undefined || o === origin) out.push(perOrigin.get(o) as FleetUpdate);
      }
    }
    return out;
  }

  classes(): string[] {
    return [...this.#classes.keys()].sort(compareStrings);
  }

  /** Count-weighted merge of every origin's contribution to `label`. */
  merged(label: string): MergedClass | undefined {
    const perOrigin = this.#classes.get(label);
    if (!perOrigin || perOrigin.size === 0) return undefined;
    const origins = [...perOrigin.keys()].sort(compareStrings);
    const sums = this.layers.map((units) => new Float64Array(units));
    let count = 0;
    // Summing in a fixed (sorted) order makes the result bit-identical whatever the arrival order.
    for (const origin of origins) {
      const c = perOrigin.get(origin) as FleetUpdate;
      count += c.count;
      c.sums.forEach((s, l) => {
        const acc = sums[l];
        for (let u = 0; u < acc.length; u++) acc[u] += s[u];
      });
    }
    return { label, sums, count, origins };
  }

  #set(update: FleetUpdate): void {
    let perOrigin = this.#classes.get(update.class);
    if (!perOrigin) {
      perOrigin = new Map();
      this.#classes.set(update.class, perOrigin);
    }
    perOrigin.set(update.origin, update);
  }

  #checkShape(update: FleetUpdate): void {
    const same = update.layers.length === this.layers.length && update.layers.every((n, l) => n === this.layers[l]);
    if (!same) {
      throw new FleetRejection(
        'incompatible',
        `update for class '${update.class}' from '${update.origin}' has layers [${update.layers}] but this network has [${this.layers}]`,
      );
    }
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
