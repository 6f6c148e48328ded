import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from './tf';
import { type OptimizerSlot, optimizerStep } from './optimizer';
import { checkBatch, checkLabels, checkMatcherRows, checkParams, prototypeRowsOf } from '../layer-checks';
import { centerRowsInPlace, normalizeRowsInPlace } from '../rows';
import { conv2dForward, conv2dTraining } from '../maths/conv2d';
import { denseActivations, denseForward, denseTraining } from '../maths/dense';
import { cosines, lossAndCorrect, lossTargets } from '../maths/local-loss';
import { TfjsOps } from './tfjs-ops';
import { emaPrototypes } from '../maths/ema-prototypes';
import type {
  Engine,
  EngineLayer,
  EngineLayerSpec,
  LayerForward,
  LayerGradients,
  LayerParams,
  LayerStepResult,
  OptimizerSettings,
  PrototypeUpdate,
  RowMatcher,
} from '../types';
import { inputWidth, isConv2dSpec, passedWidth, prototypeWidth, weightRows } from '../types';

type Tensor = tfTypes.Tensor;
type Tensor2D = tfTypes.Tensor2D;

export class TfjsEngine implements Engine {
  constructor(readonly name: string) {}

  createLayer(spec: EngineLayerSpec, params: LayerParams, optimizer: OptimizerSettings): EngineLayer {
    return new TfjsLayer(spec, params, optimizer);
  }

  forwardStack(layers: readonly EngineLayer[], x: Float32Array, batch: number, outputs: 'all' | 'final'): LayerForward[] {
    const stack = layers.map((layer) => {
      if (!(layer instanceof TfjsLayer)) throw new Error(`${this.name}: forwardStack got a layer of another engine`);
      return layer;
    });
    if (stack.length === 0) return [];
    stack[0].checkInput(x, batch);
    stack.forEach((layer, i) => {
      layer.checkInput(undefined, batch);
      if (i > 0 && inputWidth(layer.spec) !== passedWidth(stack[i - 1].spec)) {
        throw new Error(`forwardStack: layer ${i} takes ${inputWidth(layer.spec)} inputs, layer ${i - 1} gives ${passedWidth(stack[i - 1].spec)}`);
      }
    });
    const result: LayerForward[] = [];
    let input = x;
    stack.forEach((layer, i) => {
      const wanted = outputs === 'all' || i === stack.length - 1;
      // The layers above the first get unit rows (the z below), so only the first may need centring or normalising.
      const spec = layer.spec;
      let rows = input;
      if (i === 0 && !isConv2dSpec(spec) && (spec.centerInput || spec.normalizeInput)) {
        rows = Float32Array.from(input);
        if (spec.centerInput) centerRowsInPlace(rows, spec.inputSize);
        if (spec.normalizeInput) normalizeRowsInPlace(rows, spec.inputSize);
      }
      const f = layer.inferRows(rows, batch, wanted);
      if (wanted) result.push(f);
      input = f.output;
    });
    return result;
  }

  createMatcher(rows: Float32Array, count: number, dim: number): RowMatcher {
    checkMatcherRows(rows, count, dim);
    const t = tf();
    // Held transposed (dim x count): the product then needs no transpose per call (several times slower on wasm).
    const held = t.tidy(() => t.tensor2d(rows.subarray(0, count * dim), [count, dim]).transpose()) as Tensor2D;
    let disposed = false;
    return {
      count,
      dots: (x: Float32Array, batch: number) => {
        if (disposed) throw new Error('row matcher used after it was disposed');
        if (x.length < batch * dim) throw new Error(`row matcher: expected ${batch} row(s) of ${dim} values, got ${x.length} values`);
        if (count === 0) return new Float32Array(0);
        return t.tidy(() => t.matMul(t.tensor2d(x.subarray(0, batch * dim), [batch, dim]), held).dataSync() as Float32Array);
      },
      dispose: () => {
        if (!disposed) held.dispose();
        disposed = true;
      },
    };
  }

  liveTensors(): number {
    return tf().memory().numTensors;
  }
}

/** One HFF layer on tfjs: its definition (src/engines/maths: dense.ts or conv2d.ts) evaluated with TfjsOps. */
export class TfjsLayer implements EngineLayer {
  private readonly weight: OptimizerSlot;
  private readonly bias: OptimizerSlot;
  private prototypes: OptimizerSlot;
  /**
   * units x rows copy of the prototypes for the forward pass, kept until they change: a transpose at every call
   * costs more than the cosines themselves, and a stable tensor also keeps wasm's packed matrix-product operator.
   */
  private prototypesTransposed: Tensor2D | undefined;
  private step = 0;
  private disposed = false;
  prototypeRows: number;

  constructor(
    readonly spec: EngineLayerSpec,
    params: LayerParams,
    private readonly optimizer: OptimizerSettings,
  ) {
    const t = tf();
    this.prototypeRows = checkParams(spec, params);
    this.weight = slot(t.tensor2d(params.weight, [weightRows(spec), prototypeWidth(spec)]));
    this.bias = slot(t.tensor1d(params.bias));
    this.prototypes = slot(t.tensor2d(params.prototypes, [this.prototypeRows, prototypeWidth(spec)]));
  }

  /** @internal Argument checks of forward (x undefined: only the layer's state and the batch). */
  checkInput(x: Float32Array | undefined, batch: number): void {
    if (x) checkBatch(this.spec, this.disposed, x, batch);
    else if (this.disposed) throw new Error('layer used after it was disposed');
  }

  /** The ops to run the layer definition with, inside tidy; they reuse the held transpose of the prototypes. */
  private ops(): TfjsOps {
    return new TfjsOps(new Map([[this.prototypes.param, this.transposedPrototypes()]]));
  }

  /**
   * @internal The prediction path: z and (when asked for) the cosines of rows that are already normalised as the
   * layer's input. Only the dense map runs on tfjs; the normalisations are done here in JavaScript, because at
   * prediction sizes each tfjs op costs more to dispatch than its arithmetic (single-image latency on wasm is
   * mostly op count).
   */
  inferRows(rows: Float32Array, batch: number, withCosines: boolean): LayerForward {
    const spec = this.spec;
    if (isConv2dSpec(spec)) return this.forward(rows, batch);
    const t = tf();
    const products = withCosines && this.prototypeRows > 0;
    const tensors = t.tidy(() => {
      const ops = this.ops();
      const h = denseActivations(ops, spec, t.tensor2d(rows, [batch, spec.inputSize]), this.weight.param, this.bias.param);
      return products ? [h, cosines(ops, h, this.prototypes.param)] : [h];
    });
    const z = tensors[0].dataSync() as Float32Array;
    const raw = products ? (tensors[1].dataSync() as Float32Array) : new Float32Array(0);
    for (const tensor of tensors) tensor.dispose();
    // cos(z, p) = (h . p) / max(||h||, epsilon) for unit prototypes: the products scale with z's rows.
    const scales = normalizeRowsInPlace(z, spec.units);
    const rowsOfPrototypes = products ? this.prototypeRows : 0;
    for (let b = 0; b < batch; b++) {
      for (let j = b * rowsOfPrototypes; j < (b + 1) * rowsOfPrototypes; j++) raw[j] *= scales[b];
    }
    return { z, output: z, cosines: raw };
  }

  private transposedPrototypes(): Tensor2D {
    if (!this.prototypesTransposed) {
      const t = tf();
      this.prototypesTransposed = t.keep(t.transpose(this.prototypes.param as Tensor2D));
    }
    return this.prototypesTransposed;
  }

  private prototypesChanged(): void {
    this.prototypesTransposed?.dispose();
    this.prototypesTransposed = undefined;
  }

  forward(x: Float32Array, batch: number): LayerForward {
    checkBatch(this.spec, this.disposed, x, batch);
    const t = tf();
    const spec = this.spec;
    const tensors = t.tidy(() => {
      const ops = this.ops();
      const input = t.tensor2d(x, [batch, inputWidth(spec)]);
      const f = isConv2dSpec(spec)
        ? conv2dForward(ops, spec, input, this.weight.param, this.bias.param)
        : { ...denseForward(ops, spec, input, this.weight.param, this.bias.param), output: undefined };
      return [f.z, cosines(ops, f.z, this.prototypes.param), ...(f.output ? [f.output] : [])];
    });
    const [z, cos, output] = tensors.map((tensor) => tensor.dataSync() as Float32Array);
    tensors.forEach((tensor) => tensor.dispose());
    return { z, output: output ?? z, cosines: cos };
  }

  /** The training pass of the layer definition on one batch; call inside tidy. */
  private training(x: Float32Array, batch: number, labels: Int32Array) {
    const t = tf();
    const spec = this.spec;
    const classes = this.prototypeRows / spec.prototypesPerClass;
    const targets = lossTargets(spec, labels, classes);
    const input = t.tensor2d(x, [batch, inputWidth(spec)]);
    const params = { weight: this.weight.param, bias: this.bias.param, prototypes: this.prototypes.param };
    const lossTargetTensors = {
      onehot: t.tensor2d(targets.onehot, [batch, classes]),
      shift: targets.shift && t.tensor2d(targets.shift, [batch, this.prototypeRows]),
      gradScale: t.scalar(targets.gradScale),
    };
    if (isConv2dSpec(spec)) return conv2dTraining(this.ops(), spec, input, params, lossTargetTensors);
    const r = denseTraining(this.ops(), spec, input, params, lossTargetTensors);
    return { ...r, output: r.z };
  }

  gradients(x: Float32Array, batch: number, labels: Int32Array): LayerGradients {
    checkBatch(this.spec, this.disposed, x, batch);
    checkLabels(this.spec, this.prototypeRows, labels, batch);
    const t = tf();
    const tensors = t.tidy(() => {
      const r = this.training(x, batch, labels);
      return [r.logits, r.gradWeight, r.gradBias, r.gradPrototypes];
    });
    const [logits, dW, dB, dP] = tensors.map((tensor) => tensor.dataSync() as Float32Array);
    tensors.forEach((tensor) => tensor.dispose());
    const { loss } = lossAndCorrect(logits, labels, this.prototypeRows / this.spec.prototypesPerClass);
    return { loss, weight: dW, bias: dB, prototypes: dP };
  }

  trainStep(x: Float32Array, batch: number, labels: Int32Array, options: { prototypeUpdate: PrototypeUpdate; emaRate: number }): LayerStepResult {
    checkBatch(this.spec, this.disposed, x, batch);
    checkLabels(this.spec, this.prototypeRows, labels, batch);
    const t = tf();
    this.step += 1;
    const classes = this.prototypeRows / this.spec.prototypesPerClass;
    const [logits, z, output, cos] = t.tidy(() => {
      const r = this.training(x, batch, labels);
      optimizerStep(this.weight, r.gradWeight, this.optimizer, this.step, this.optimizer.weightDecay);
      optimizerStep(this.bias, r.gradBias, this.optimizer, this.step, 0);
      if (options.prototypeUpdate === 'gradient') {
        optimizerStep(this.prototypes, r.gradPrototypes, this.optimizer, this.step, 0);
        this.prototypes.param.assign(new TfjsOps().normalizeRows(this.prototypes.param));
        this.prototypesChanged();
      }
      // The dense output is z itself: passed as the same tensor, it is read once.
      return options.prototypeUpdate === 'gradient' ? [r.logits, r.z, r.output] : [r.logits, r.z, r.output, r.cos];
    });
    const zRows = z.dataSync() as Float32Array;
    const result = {
      ...lossAndCorrect(logits.dataSync() as Float32Array, labels, classes),
      z: zRows,
      output: output === z ? zRows : (output.dataSync() as Float32Array),
    };
    if (cos) {
      const width = prototypeWidth(this.spec);
      const prototypes = this.readPrototypes();
      emaPrototypes(prototypes, width, this.spec.prototypesPerClass, result.z, cos.dataSync() as Float32Array, labels, options.emaRate);
      t.tidy(() => this.prototypes.param.assign(t.tensor2d(prototypes, [this.prototypeRows, width])));
      this.prototypesChanged();
    }
    for (const tensor of new Set([logits, z, output, cos])) tensor?.dispose();
    return result;
  }

  readParams(): LayerParams {
    return {
      weight: Float32Array.from(this.weight.param.dataSync() as Float32Array),
      bias: Float32Array.from(this.bias.param.dataSync() as Float32Array),
      prototypes: Float32Array.from(this.prototypes.param.dataSync() as Float32Array),
    };
  }

  readPrototypes(): Float32Array {
    return Float32Array.from(this.prototypes.param.dataSync() as Float32Array);
  }

  setPrototypes(prototypes: Float32Array): void {
    const rows = prototypeRowsOf(prototypes, prototypeWidth(this.spec));
    const next = slot(tf().tensor2d(prototypes, [rows, prototypeWidth(this.spec)]));
    disposeSlot(this.prototypes);
    this.prototypesChanged();
    this.prototypes = next;
    this.prototypeRows = rows;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeSlot(this.weight);
    disposeSlot(this.bias);
    disposeSlot(this.prototypes);
    this.prototypesChanged();
  }
}

function slot(initial: Tensor): OptimizerSlot {
  const t = tf();
  const param = t.variable(initial, true);
  initial.dispose();
  const zeros = () => {
    const z = t.zerosLike(param);
    const v = t.variable(z, false);
    z.dispose();
    return v;
  };
  return { param, m: zeros(), v: zeros() };
}

function disposeSlot(s: OptimizerSlot): void {
  s.param.dispose();
  s.m.dispose();
  s.v.dispose();
}
