/**
 * The onnx engine: HFF layers on onnxruntime-node's CPU provider. Each layer's forward pass and local-loss
 * gradients are ONNX graphs generated from the layer definition (./graphs.ts) whose parameters are inputs, fed straight from the Float32Arrays the
 * layer owns; gradients land in preallocated arrays and the optimiser updates the parameters in place
 * (./kernels.ts). Sessions depend only on the layer's shape and loss settings, so the engine shares them
 * between layers and models. Results equal the tfjs engine's within float32 rounding.
 */
import type {
  Engine,
  EngineLayer,
  LayerForward,
  LayerGradients,
  EngineLayerSpec,
  LayerParams,
  LayerStepResult,
  OptimizerSettings,
  PrototypeUpdate,
  RowMatcher,
} from '../types';
import { inputWidth, isConv2dSpec, passedWidth, prototypeWidth, weightRows } from '../types';
import { checkBatch, checkLabels, checkMatcherRows, checkParams, prototypeRowsOf } from '../layer-checks';
import {
  conv2dForwardModel,
  conv2dTrainModel,
  layerForwardModel,
  layerFrozenForwardModel,
  layerTrainModel,
  matcherModel,
  stackFrozenForwardModel,
} from './graphs';
import { normalizeRowsInPlace } from '../rows';
import { adamUpdate, sgdUpdate } from './kernels';
import { emaPrototypes } from '../maths/ema-prototypes';
import { lossAndCorrect, lossTargets } from '../maths/local-loss';
import { type OnnxSessionOptions, type OrtTensor, SyncSession, floatTensor, loadOnnxRuntime, onnxLoadError, resolveThreads } from './runtime';
import { AdamBlock } from './simd-adam';

export const ONNX_ENGINE_NAME = 'onnx';

/**
 * Forward calls without a weight change after which a layer builds its own session with the weights as
 * constants (prepacked by ORT): inference-heavy use gets the fast path, alternating train/forward use never pays
 * for rebuilding.
 */
const FREEZE_AFTER_FORWARDS = process.env.HFF_ONNX_FREEZE_AFTER !== undefined ? Number(process.env.HFF_ONNX_FREEZE_AFTER) : 4;

/** Buffers a layer holds: weight, bias, prototypes and an m and v moment for each (as the tfjs engine counts). */
const BUFFERS_PER_LAYER = 9;

/**
 * A session with unchanging weights as constants, built once they have served FREEZE_AFTER_FORWARDS forward calls
 * unchanged. Building costs tens of milliseconds for a 1000x1000 layer, so when training keeps interrupting short
 * runs of predictions the next one waits 4x longer (up to 4096 calls).
 */
class FrozenForward {
  private current?: SyncSession;
  private stableForwards = 0;
  /** Calls the current session served. */
  private uses = 0;
  private after = FREEZE_AFTER_FORWARDS;

  /** Counts a forward call; the session for the current weights, when it exists or is due (`build` makes it). */
  session(build: () => SyncSession): SyncSession | undefined {
    this.stableForwards += 1;
    if (!this.current && this.after > 0 && this.stableForwards >= this.after) {
      this.current = build();
      this.uses = 0;
    }
    if (this.current) this.uses += 1;
    return this.current;
  }

  /** The weights changed: drops the session built for the previous ones. */
  weightsChanged(): void {
    this.stableForwards = 0;
    if (!this.current) return;
    this.current.dispose();
    this.current = undefined;
    this.after = this.uses < 64 ? Math.min(this.after * 4, 4096) : FREEZE_AFTER_FORWARDS;
  }
}

/**
 * Whether a stack gains from one graph for all its layers: when a convolutional block sits on another, which then
 * hands over its maps without the two transposes and the copy out of ORT that a graph per layer costs.
 */
function fusesWell(layers: readonly OnnxLayer[]): boolean {
  return layers.slice(1).some((layer) => isConv2dSpec(layer.spec));
}

export class OnnxEngine implements Engine {
  readonly name = ONNX_ENGINE_NAME;
  readonly threads: number;
  private readonly sessions = new Map<string, SyncSession>();
  private liveLayers = 0;
  private liveMatchers = 0;
  /** Frozen whole-stack sessions for predictions, by the ids of the stack's layers (see fusesWell). */
  private readonly stacks = new Map<string, { layers: OnnxLayer[]; versions: number[]; frozen: FrozenForward }>();
  private nextLayerId = 0;

  constructor(private readonly options: OnnxSessionOptions = {}) {
    if (!loadOnnxRuntime()) throw new Error(`onnxruntime-node is not available (${onnxLoadError()})`);
    this.threads = resolveThreads(options.threads);
  }

  createLayer(spec: EngineLayerSpec, params: LayerParams, optimizer: OptimizerSettings): EngineLayer {
    const layer = new OnnxLayer(this, spec, params, optimizer);
    this.liveLayers += 1;
    return layer;
  }

  /**
   * Layer by layer: each native run already reads into arrays the next run takes without copying. For the top
   * layer alone, a stack whose blocks sit on blocks runs as one graph once its weights have stopped changing.
   */
  forwardStack(layers: readonly EngineLayer[], x: Float32Array, batch: number, outputs: 'all' | 'final'): LayerForward[] {
    const own = layers.map((layer) => {
      if (!(layer instanceof OnnxLayer)) throw new Error(`${this.name}: forwardStack got a layer of another engine`);
      return layer;
    });
    if (outputs === 'final' && fusesWell(own)) {
      const top = this.frozenStackForward(own, x, batch);
      if (top) return [top];
    }
    const result: LayerForward[] = [];
    let input = x;
    for (const layer of own) {
      const f = layer.forward(input, batch);
      result.push(f);
      input = f.output;
    }
    return outputs === 'all' ? result : result.slice(-1);
  }

  /** The rows become a constant of their own small graph, so ORT prepacks them for its GEMM kernel. */
  createMatcher(rows: Float32Array, count: number, dim: number): RowMatcher {
    checkMatcherRows(rows, count, dim);
    const session = count > 0 ? this.newSession(matcherModel(rows.subarray(0, count * dim), count, dim)) : undefined;
    this.liveMatchers += 1;
    let disposed = false;
    return {
      count,
      dots: (x: Float32Array, batch: number) => {
        if (disposed) throw new Error('row matcher used after it was disposed');
        if (x.length < batch * dim) throw new Error(`row matcher: expected ${batch} row(s) of ${dim} values, got ${x.length} values`);
        if (!session) return new Float32Array(0);
        const out = new Float32Array(batch * count);
        session.run({ x: floatTensor(x.length === batch * dim ? x : x.subarray(0, batch * dim), [batch, dim]) }, { dots: floatTensor(out, [batch, count]) });
        return out;
      },
      dispose: () => {
        if (disposed) return;
        disposed = true;
        session?.dispose();
        this.liveMatchers -= 1;
      },
    };
  }

  /** The top layer's forward through the stack's frozen session, once it is due; undefined before. */
  private frozenStackForward(layers: OnnxLayer[], x: Float32Array, batch: number): LayerForward | undefined {
    layers[0].checkInput(x, batch);
    const key = layers.map((layer) => layer.id).join(',');
    const versions = layers.map((layer) => layer.weightsVersion);
    let entry = this.stacks.get(key);
    if (!entry) {
      entry = { layers, versions, frozen: new FrozenForward() };
      this.stacks.set(key, entry);
    } else if (entry.versions.some((v, i) => v !== versions[i])) {
      entry.frozen.weightsChanged();
      entry.versions = versions;
    }
    const session = entry.frozen.session(() => this.newSession(stackFrozenForwardModel(layers.map((layer) => layer.frozenParams()))));
    if (!session) return undefined;
    return layers[layers.length - 1].runFrozen(session, x, batch, inputWidth(layers[0].spec));
  }

  liveTensors(): number {
    return this.liveLayers * BUFFERS_PER_LAYER + this.liveMatchers;
  }

  /** @internal */
  layerDisposed(layer: OnnxLayer): void {
    this.liveLayers -= 1;
    for (const [key, entry] of this.stacks) {
      if (!entry.layers.includes(layer)) continue;
      entry.frozen.weightsChanged();
      this.stacks.delete(key);
    }
  }

  /** @internal */
  newLayerId(): number {
    return this.nextLayerId++;
  }

  /** @internal A cached session for a graph identified by `key`. */
  session(key: string, build: () => Uint8Array): SyncSession {
    let s = this.sessions.get(key);
    if (!s) {
      s = this.newSession(build());
      this.sessions.set(key, s);
    }
    return s;
  }

  /** @internal A session the caller owns (and disposes). */
  newSession(model: Uint8Array): SyncSession {
    return new SyncSession(model, { ...this.options, threads: this.threads });
  }

  /** Releases the cached sessions (layers still alive rebuild theirs on next use). */
  releaseSessions(): void {
    for (const s of this.sessions.values()) s.dispose();
    this.sessions.clear();
  }
}

export class OnnxLayer implements EngineLayer {
  prototypeRows: number;
  /** Weight, its gradient and moments, in one WebAssembly memory for the SIMD Adam. */
  private readonly weightBlock: AdamBlock;
  private readonly weight: Float32Array;
  private readonly bias: Float32Array;
  private prototypes: Float32Array;
  private readonly weightM: Float32Array;
  private readonly weightV: Float32Array;
  private readonly biasM: Float32Array;
  private readonly biasV: Float32Array;
  private prototypesM: Float32Array;
  private prototypesV: Float32Array;
  private readonly gradWeight: Float32Array;
  private readonly gradBias: Float32Array;
  private gradPrototypes: Float32Array;
  /** ORT tensors over the arrays above, built once (the arrays are updated in place). */
  private readonly weightT: OrtTensor;
  private readonly biasT: OrtTensor;
  private prototypesT: OrtTensor;
  private readonly gradWeightT: OrtTensor;
  private readonly gradBiasT: OrtTensor;
  private gradPrototypesT: OrtTensor;
  private step = 0;
  private disposed = false;
  private readonly frozen = new FrozenForward();
  /** @internal Identifies the layer in the engine's stack sessions. */
  readonly id: number;
  /** @internal Increases with every weight change. */
  weightsVersion = 0;
  private readonly forwardKey: string;
  private readonly trainKey: string;

  constructor(
    private readonly engine: OnnxEngine,
    readonly spec: EngineLayerSpec,
    params: LayerParams,
    private readonly optimizer: OptimizerSettings,
  ) {
    const inputSize = weightRows(spec);
    const units = prototypeWidth(spec);
    this.prototypeRows = checkParams(spec, params);
    this.weightBlock = new AdamBlock(inputSize * units);
    this.weight = this.weightBlock.param;
    this.weight.set(params.weight);
    this.bias = Float32Array.from(params.bias);
    this.prototypes = Float32Array.from(params.prototypes);
    this.weightM = this.weightBlock.m;
    this.weightV = this.weightBlock.v;
    this.biasM = new Float32Array(units);
    this.biasV = new Float32Array(units);
    this.prototypesM = new Float32Array(this.prototypes.length);
    this.prototypesV = new Float32Array(this.prototypes.length);
    this.gradWeight = this.weightBlock.grad;
    this.gradBias = new Float32Array(units);
    this.gradPrototypes = new Float32Array(this.prototypes.length);
    this.weightT = floatTensor(this.weight, [inputSize, units]);
    this.biasT = floatTensor(this.bias, [units]);
    this.prototypesT = floatTensor(this.prototypes, [this.prototypeRows, units]);
    this.gradWeightT = floatTensor(this.gradWeight, [inputSize, units]);
    this.gradBiasT = floatTensor(this.gradBias, [units]);
    this.gradPrototypesT = floatTensor(this.gradPrototypes, [this.prototypeRows, units]);
    const shape = isConv2dSpec(spec)
      ? `conv2d:${spec.input.height}x${spec.input.width}x${spec.input.channels}:${spec.filters}k${spec.kernel}p${spec.pool}:${spec.activation}`
      : `${inputSize}x${units}:${spec.activation}:${spec.centerInput ? 'c' : ''}${spec.normalizeInput ? 'n' : 'r'}`;
    this.forwardKey = `forward:${shape}`;
    this.trainKey = `train:${shape}:${spec.tau}:${spec.margin}:${spec.prototypesPerClass}`;
    this.id = engine.newLayerId();
  }

  /** @internal Checks a batch for this layer's input. */
  checkInput(x: Float32Array, batch: number): void {
    checkBatch(this.spec, this.disposed, x, batch);
  }

  /** @internal The definition and current weights, for a frozen graph. */
  frozenParams(): { spec: EngineLayerSpec; weight: Float32Array; bias: Float32Array } {
    return { spec: this.spec, weight: this.weight, bias: this.bias };
  }

  /**
   * @internal Runs a frozen graph whose top is this layer (its own, or a whole stack's: then x is the stack's input
   * of `inputSize` values per row): z, cosines to this layer's prototypes, and what it passes up.
   */
  runFrozen(session: SyncSession, x: Float32Array, batch: number, inputSize = inputWidth(this.spec)): LayerForward {
    const { z, output, cosines, fetches } = this.forwardArrays(batch);
    session.run({ x: floatTensor(x, [batch, inputSize]), prototypes: this.prototypesT }, fetches);
    return { z, output, cosines };
  }

  /** Arrays for a forward pass's results, and the fetches over them. */
  private forwardArrays(batch: number) {
    const spec = this.spec;
    const units = prototypeWidth(spec);
    const z = new Float32Array(batch * units);
    const cosines = new Float32Array(batch * this.prototypeRows);
    const fetches: Record<string, OrtTensor> = { z: floatTensor(z, [batch, units]), cos: floatTensor(cosines, [batch, this.prototypeRows]) };
    const output = isConv2dSpec(spec) ? new Float32Array(batch * passedWidth(spec)) : z;
    if (output !== z) fetches.output = floatTensor(output, [batch, passedWidth(spec)]);
    return { z, output, cosines, fetches };
  }

  forward(x: Float32Array, batch: number): LayerForward {
    checkBatch(this.spec, this.disposed, x, batch);
    const spec = this.spec;
    const frozen = this.frozen.session(() =>
      this.engine.newSession(
        isConv2dSpec(spec) ? conv2dForwardModel(spec, { weight: this.weight, bias: this.bias }) : layerFrozenForwardModel(spec, this.weight, this.bias),
      ),
    );
    if (frozen) return this.runFrozen(frozen, x, batch);
    const { z, output, cosines, fetches } = this.forwardArrays(batch);
    const session = this.engine.session(this.forwardKey, () => (isConv2dSpec(spec) ? conv2dForwardModel(spec) : layerForwardModel(spec, true)));
    session.run({ x: floatTensor(x, [batch, inputWidth(spec)]), weight: this.weightT, bias: this.biasT, prototypes: this.prototypesT }, fetches);
    return { z, output, cosines };
  }

  /** Runs the training graph: fills the gradient arrays and returns z, cos and the loss figures. */
  private runGradients(x: Float32Array, batch: number, labels: Int32Array) {
    const spec = this.spec;
    const units = prototypeWidth(spec);
    const rows = this.prototypeRows;
    const classes = rows / spec.prototypesPerClass;
    const targets = lossTargets(spec, labels, classes);
    const feeds: Record<string, OrtTensor> = {
      x: floatTensor(x, [batch, inputWidth(spec)]),
      weight: this.weightT,
      bias: this.biasT,
      prototypes: this.prototypesT,
      onehot: floatTensor(targets.onehot, [batch, classes]),
      gradScale: floatTensor(Float32Array.of(targets.gradScale), []),
    };
    if (targets.shift) feeds.shift = floatTensor(targets.shift, [batch, rows]);
    const z = new Float32Array(batch * units);
    const cos = new Float32Array(batch * rows);
    const logits = new Float32Array(batch * classes);
    const output = isConv2dSpec(spec) ? new Float32Array(batch * passedWidth(spec)) : z;
    const session = isConv2dSpec(spec)
      ? this.engine.session(this.trainKey, () => conv2dTrainModel(spec))
      : this.engine.session(this.trainKey, () => layerTrainModel(spec));
    session.run(feeds, {
      z: floatTensor(z, [batch, units]),
      ...(output !== z ? { output: floatTensor(output, [batch, passedWidth(spec)]) } : {}),
      cos: floatTensor(cos, [batch, rows]),
      logits: floatTensor(logits, [batch, classes]),
      gradWeight: this.gradWeightT,
      gradBias: this.gradBiasT,
      gradPrototypes: this.gradPrototypesT,
    });
    return { z, output, cos, ...lossAndCorrect(logits, labels, classes) };
  }

  gradients(x: Float32Array, batch: number, labels: Int32Array): LayerGradients {
    checkBatch(this.spec, this.disposed, x, batch);
    checkLabels(this.spec, this.prototypeRows, labels, batch);
    const r = this.runGradients(x, batch, labels);
    return {
      loss: r.loss,
      weight: Float32Array.from(this.gradWeight),
      bias: Float32Array.from(this.gradBias),
      prototypes: Float32Array.from(this.gradPrototypes),
    };
  }

  trainStep(x: Float32Array, batch: number, labels: Int32Array, options: { prototypeUpdate: PrototypeUpdate; emaRate: number }): LayerStepResult {
    checkBatch(this.spec, this.disposed, x, batch);
    checkLabels(this.spec, this.prototypeRows, labels, batch);
    this.step += 1;
    const r = this.runGradients(x, batch, labels);
    this.weightsChanged();
    const o = this.optimizer;
    const simd = o.kind === 'adam' && this.weightBlock.update(o.beta1, o.beta2, o.learningRate, o.epsilon, o.weightDecay, this.step);
    if (!simd) this.update(this.weight, this.gradWeight, this.weightM, this.weightV, o.weightDecay);
    this.update(this.bias, this.gradBias, this.biasM, this.biasV, 0);
    if (options.prototypeUpdate === 'gradient') {
      this.update(this.prototypes, this.gradPrototypes, this.prototypesM, this.prototypesV, 0);
      normalizeRowsInPlace(this.prototypes, prototypeWidth(this.spec));
    } else {
      emaPrototypes(this.prototypes, prototypeWidth(this.spec), this.spec.prototypesPerClass, r.z, r.cos, labels, options.emaRate);
    }
    return { loss: r.loss, correct: r.correct, z: r.z, output: r.output };
  }

  private weightsChanged(): void {
    this.weightsVersion += 1;
    this.frozen.weightsChanged();
  }

  private update(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, weightDecay: number): void {
    if (this.optimizer.kind === 'adam') adamUpdate(param, grad, m, v, this.optimizer, this.step, weightDecay);
    else sgdUpdate(param, grad, m, this.optimizer, weightDecay);
  }

  readParams(): LayerParams {
    this.checkUsable();
    return { weight: Float32Array.from(this.weight), bias: Float32Array.from(this.bias), prototypes: Float32Array.from(this.prototypes) };
  }

  readPrototypes(): Float32Array {
    this.checkUsable();
    return Float32Array.from(this.prototypes);
  }

  setPrototypes(prototypes: Float32Array): void {
    this.checkUsable();
    const units = prototypeWidth(this.spec);
    const rows = prototypeRowsOf(prototypes, units);
    this.prototypes = Float32Array.from(prototypes);
    this.prototypesM = new Float32Array(prototypes.length);
    this.prototypesV = new Float32Array(prototypes.length);
    this.gradPrototypes = new Float32Array(prototypes.length);
    this.prototypesT = floatTensor(this.prototypes, [rows, units]);
    this.gradPrototypesT = floatTensor(this.gradPrototypes, [rows, units]);
    this.prototypeRows = rows;
  }

  private checkUsable(): void {
    if (this.disposed) throw new Error('layer used after it was disposed');
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.weightsChanged();
    this.engine.layerDisposed(this);
  }
}
