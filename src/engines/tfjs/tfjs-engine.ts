import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from './tf';
import { type OptimizerSlot, optimizerStep } from './optimizer';
import { checkBatch, checkLabels, checkMatcherRows, checkParams, prototypeRowsOf } from '../layer-checks';
import { centerRowsInPlace, normalizeRowsInPlace } from '../rows';
import type {
  Engine,
  EngineLayer,
  LayerForward,
  LayerGradients,
  LayerParams,
  LayerSpec,
  LayerStepResult,
  OptimizerSettings,
  PrototypeUpdate,
  RowMatcher,
} from '../types';

type Tensor = tfTypes.Tensor;
type Tensor2D = tfTypes.Tensor2D;

const NORM_EPSILON = 1e-12;

interface ForwardTensors {
  xn: Tensor2D;
  a: Tensor2D;
  hNorm: Tensor2D;
  z: Tensor2D;
  cos: Tensor2D;
}

export class TfjsEngine implements Engine {
  constructor(readonly name: string) {}

  createLayer(spec: LayerSpec, params: LayerParams, optimizer: OptimizerSettings): EngineLayer {
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
      if (i > 0 && layer.spec.inputSize !== stack[i - 1].spec.units) {
        throw new Error(`forwardStack: layer ${i} takes ${layer.spec.inputSize} inputs, layer ${i - 1} gives ${stack[i - 1].spec.units}`);
      }
    });
    const result: LayerForward[] = [];
    let input = x;
    stack.forEach((layer, i) => {
      const wanted = outputs === 'all' || i === stack.length - 1;
      // The layers above the first get unit rows (the z below), so only the first may need centring or normalising.
      let rows = input;
      if (i === 0 && (layer.spec.centerInput || layer.spec.normalizeInput)) {
        rows = Float32Array.from(input);
        if (layer.spec.centerInput) centerRowsInPlace(rows, layer.spec.inputSize);
        if (layer.spec.normalizeInput) normalizeRowsInPlace(rows, layer.spec.inputSize);
      }
      const f = layer.inferRows(rows, batch, wanted);
      if (wanted) result.push(f);
      input = f.z;
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

/**
 * One HFF layer on tfjs with its local loss and hand-written gradients (explicit transposes instead of
 * autodiff, which is several times slower on the wasm backend).
 */
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
    readonly spec: LayerSpec,
    params: LayerParams,
    private readonly optimizer: OptimizerSettings,
  ) {
    const t = tf();
    this.prototypeRows = checkParams(spec, params);
    this.weight = slot(t.tensor2d(params.weight, [spec.inputSize, spec.units]));
    this.bias = slot(t.tensor1d(params.bias));
    this.prototypes = slot(t.tensor2d(params.prototypes, [this.prototypeRows, spec.units]));
  }

  /** @internal Argument checks of forward (x undefined: only the layer's state and the batch). */
  checkInput(x: Float32Array | undefined, batch: number): void {
    if (x) checkBatch(this.spec, this.disposed, x, batch);
    else if (this.disposed) throw new Error('layer used after it was disposed');
  }

  /** Builds the forward tensors; call inside tidy. */
  private forwardTensors(x: Float32Array, batch: number): ForwardTensors {
    const t = tf();
    const input = t.tensor2d(x, [batch, this.spec.inputSize]);
    const centred = this.spec.centerInput ? (t.sub(input, t.mean(input, 1, true)) as Tensor2D) : input;
    const xn = this.spec.normalizeInput ? normalizeRows(centred) : centred;
    const a = t.add(t.matMul(xn, this.weight.param as Tensor2D), this.bias.param) as Tensor2D;
    const h = activate(a, this.spec.activation);
    const hNorm = rowNorms(h);
    const z = t.div(h, hNorm) as Tensor2D;
    return { xn, a, hNorm, z, cos: this.cosinesOf(z, batch) };
  }

  /**
   * @internal The prediction path: z and (when asked for) the cosines of rows that are already normalised as the
   * layer's input. Only the dense map runs on tfjs; the normalisations are done here in JavaScript, because at
   * prediction sizes each tfjs op costs more to dispatch than its arithmetic (single-image latency on wasm is
   * mostly op count).
   */
  inferRows(rows: Float32Array, batch: number, withCosines: boolean): LayerForward {
    const t = tf();
    const products = withCosines && this.prototypeRows > 0;
    const tensors = t.tidy(() => {
      const h = activate(
        t.add(t.matMul(t.tensor2d(rows, [batch, this.spec.inputSize]), this.weight.param as Tensor2D), this.bias.param) as Tensor2D,
        this.spec.activation,
      );
      return products ? [h, t.matMul(h, this.transposedPrototypes())] : [h];
    });
    const z = tensors[0].dataSync() as Float32Array;
    const raw = products ? (tensors[1].dataSync() as Float32Array) : new Float32Array(0);
    for (const tensor of tensors) tensor.dispose();
    // cos(z, p) = (h . p) / max(||h||, epsilon) for unit prototypes: the products scale with z's rows.
    const scales = normalizeRowsInPlace(z, this.spec.units);
    const rowsOfPrototypes = products ? this.prototypeRows : 0;
    for (let b = 0; b < batch; b++) {
      for (let j = b * rowsOfPrototypes; j < (b + 1) * rowsOfPrototypes; j++) raw[j] *= scales[b];
    }
    return { z, cosines: raw };
  }

  private cosinesOf(z: Tensor2D, batch: number): Tensor2D {
    // A model grown by teaching starts with no prototypes; XNNPACK refuses a product with no output columns.
    return (this.prototypeRows === 0 ? tf().zeros([batch, 0]) : tf().matMul(z, this.transposedPrototypes())) as Tensor2D;
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
    const [z, cos] = t.tidy(() => {
      const f = this.forwardTensors(x, batch);
      return [f.z, f.cos];
    });
    const out = { z: z.dataSync() as Float32Array, cosines: cos.dataSync() as Float32Array };
    z.dispose();
    cos.dispose();
    return out;
  }

  /**
   * Loss and gradients of the local loss. Logits per class are LogSumExp over that class's prototypes of
   * (cos - margin*[true class]) / tau; with one prototype per class that is the plain cosine softmax.
   */
  private lossAndGradientTensors(f: ForwardTensors, labels: Int32Array, batch: number) {
    const t = tf();
    const { tau, margin, prototypesPerClass: m } = this.spec;
    const classes = this.prototypeRows / m;
    const labelTensor = t.tensor1d(labels, 'int32');
    const classOneHot = t.oneHot(labelTensor, classes).toFloat() as Tensor2D;
    // Per-prototype mask of the true class's rows, for the margin.
    const rowMask = t.reshape(t.tile(t.expandDims(classOneHot, 2), [1, 1, m]), [batch, classes * m]);
    const shifted = margin !== 0 ? t.sub(f.cos, t.mul(rowMask, margin)) : f.cos;
    const scaled = t.reshape(t.div(shifted, tau), [batch, classes, m]);
    const logits = (m === 1 ? t.reshape(scaled, [batch, classes]) : t.logSumExp(scaled, 2)) as Tensor2D;
    const logProb = t.logSoftmax(logits);
    const loss = t.neg(t.mean(t.sum(t.mul(classOneHot, logProb), 1)));
    const correct = t.sum(t.equal(t.argMax(logits, 1), labelTensor).toInt());
    // dL/dlogits, then through the LogSumExp (softmax weights within the class) and the 1/tau scale.
    const dLogits = t.div(t.sub(t.exp(logProb), classOneHot), batch);
    const withinClass = m === 1 ? t.onesLike(scaled) : t.softmax(scaled, 2);
    const dCos = t.reshape(t.div(t.mul(t.expandDims(dLogits, 2), withinClass), tau), [batch, classes * m]) as Tensor2D;
    const p = this.prototypes.param as Tensor2D;
    const dZ = t.matMul(dCos, p);
    const dPRaw = matMul(dCos, f.z, true, false);
    // Prototypes stay unit length, so only the tangent component moves them.
    const dP = t.sub(dPRaw, t.mul(p, t.sum(t.mul(p, dPRaw), 1, true)));
    // z = h/||h||: project out the radial part and divide by the norm.
    const dH = t.div(t.sub(dZ, t.mul(f.z, t.sum(t.mul(f.z, dZ), 1, true))), f.hNorm);
    const dA = activationGradient(f.a, dH, this.spec.activation);
    const dW = matMul(f.xn, dA, true, false);
    const dB = t.sum(dA, 0);
    return { loss, correct, dW, dB, dP };
  }

  gradients(x: Float32Array, batch: number, labels: Int32Array): LayerGradients {
    checkBatch(this.spec, this.disposed, x, batch);
    checkLabels(this.spec, this.prototypeRows, labels, batch);
    const t = tf();
    const tensors = t.tidy(() => {
      const g = this.lossAndGradientTensors(this.forwardTensors(x, batch), labels, batch);
      return [g.loss, g.dW, g.dB, g.dP];
    });
    const [loss, dW, dB, dP] = tensors.map((tensor) => tensor.dataSync() as Float32Array);
    tensors.forEach((tensor) => tensor.dispose());
    return { loss: loss[0], weight: dW, bias: dB, prototypes: dP };
  }

  trainStep(x: Float32Array, batch: number, labels: Int32Array, options: { prototypeUpdate: PrototypeUpdate; emaRate: number }): LayerStepResult {
    checkBatch(this.spec, this.disposed, x, batch);
    checkLabels(this.spec, this.prototypeRows, labels, batch);
    const t = tf();
    this.step += 1;
    const [loss, correct, z] = t.tidy(() => {
      const f = this.forwardTensors(x, batch);
      const g = this.lossAndGradientTensors(f, labels, batch);
      optimizerStep(this.weight, g.dW, this.optimizer, this.step, this.optimizer.weightDecay);
      optimizerStep(this.bias, g.dB, this.optimizer, this.step, 0);
      if (options.prototypeUpdate === 'gradient') {
        optimizerStep(this.prototypes, g.dP, this.optimizer, this.step, 0);
        this.prototypes.param.assign(normalizeRows(this.prototypes.param as Tensor2D));
      } else {
        this.prototypes.param.assign(this.emaPrototypes(f.z, f.cos, labels, batch, options.emaRate));
      }
      this.prototypesChanged();
      return [g.loss, g.correct, f.z];
    });
    const result = {
      loss: (loss.dataSync() as Float32Array)[0],
      correct: (correct.dataSync() as Int32Array)[0],
      z: z.dataSync() as Float32Array,
    };
    loss.dispose();
    correct.dispose();
    z.dispose();
    return result;
  }

  /**
   * Moves each prototype toward the normalised mean of the batch rows assigned to it (the row's class, and
   * within it the most similar of the class's prototypes).
   */
  private emaPrototypes(z: Tensor2D, cos: Tensor2D, labels: Int32Array, batch: number, rate: number): Tensor2D {
    const t = tf();
    const m = this.spec.prototypesPerClass;
    const rows = this.prototypeRows;
    let assigned: Tensor;
    const labelTensor = t.tensor1d(labels, 'int32');
    if (m === 1) {
      assigned = labelTensor;
    } else {
      const classes = rows / m;
      const ownRows = t.reshape(t.tile(t.expandDims(t.oneHot(labelTensor, classes), 2), [1, 1, m]), [batch, rows]);
      const masked = t.where(t.cast(ownRows, 'bool'), cos, t.fill([batch, rows], -Infinity));
      assigned = t.argMax(masked, 1);
    }
    const assignment = t.oneHot(assigned as tfTypes.Tensor1D, rows).toFloat();
    const sums = matMul(assignment as Tensor2D, z, true, false);
    const present = t.greater(t.sum(assignment, 0), 0).reshape([rows, 1]);
    const target = normalizeRows(sums as Tensor2D);
    const moved = normalizeRows(t.add(t.mul(this.prototypes.param, 1 - rate), t.mul(target, rate)) as Tensor2D);
    return t.where(present, moved, this.prototypes.param as Tensor) as Tensor2D;
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
    const rows = prototypeRowsOf(prototypes, this.spec.units);
    const next = slot(tf().tensor2d(prototypes, [rows, this.spec.units]));
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

/**
 * Matrix product with transposes done as separate ops: the wasm backend sends transposed operands to a naive
 * loop that is about ten times slower than its XNNPACK path for plain operands.
 */
function matMul(a: Tensor2D, b: Tensor2D, transposeA: boolean, transposeB: boolean): Tensor2D {
  const t = tf();
  return t.matMul(transposeA ? t.transpose(a) : a, transposeB ? t.transpose(b) : b);
}

/**
 * max(||row||, epsilon) per row, as a column. Spelled out because tf.norm costs three times as much on wasm, which
 * shows in single-image latency.
 */
function rowNorms(x: Tensor2D): Tensor2D {
  const t = tf();
  return t.sqrt(t.maximum(t.sum(t.square(x), 1, true), NORM_EPSILON * NORM_EPSILON)) as Tensor2D;
}

function normalizeRows(x: Tensor2D): Tensor2D {
  return tf().div(x, rowNorms(x)) as Tensor2D;
}

const LEAKY_SLOPE = 0.01;

function activate(a: Tensor2D, activation: LayerSpec['activation']): Tensor2D {
  const t = tf();
  switch (activation) {
    case 'relu':
      return t.relu(a);
    case 'leaky-relu':
      return t.leakyRelu(a, LEAKY_SLOPE);
    case 'tanh':
      return t.tanh(a);
  }
}

function activationGradient(a: Tensor2D, dH: Tensor, activation: LayerSpec['activation']): Tensor2D {
  const t = tf();
  switch (activation) {
    case 'relu':
      return t.mul(dH, t.step(a, 0)) as Tensor2D;
    case 'leaky-relu':
      return t.mul(dH, t.where(t.greater(a, 0), t.onesLike(a), t.fill(a.shape, LEAKY_SLOPE))) as Tensor2D;
    case 'tanh': {
      const th = t.tanh(a);
      return t.mul(dH, t.sub(1, t.square(th))) as Tensor2D;
    }
  }
}
