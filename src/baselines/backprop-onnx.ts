/**
 * The backprop baseline (./backprop.ts) on onnxruntime: the same maths (./backprop-maths.ts) as two ONNX graphs, the
 * training pass (logits and every gradient) and the forward pass, with the parameters as graph inputs and the
 * optimiser in JavaScript, as the onnx engine trains HFF layers. On the wasm backend a training step of the 32-64-128
 * CNN took 3-7 s at batch 128; here the baseline trains at the speed of HFF's onnx engine.
 */
import { GraphBuilder } from '../onnx/graph-builder';
import { GraphOps } from '../engines/onnx/graph-ops';
import { adamUpdate, sgdUpdate } from '../engines/onnx/kernels';
import { type OnnxSessionOptions, SyncSession, floatTensor, type OrtTensor } from '../engines/onnx/runtime';
import {
  type BackpropConfig,
  type BackpropOptions,
  type BackpropParams,
  backpropSpecs,
  backpropWeightShapes,
  initialBackpropParams,
  resolveBackpropConfig,
} from './backprop';
import { type BackpropValues, backpropGradients, backpropLogits } from './backprop-maths';
import { type WeightShape, argMaxRows, checkBatch, checkLabels } from './common';

interface Slot {
  value: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

function slot(value: Float32Array): Slot {
  return { value: Float32Array.from(value), m: new Float32Array(value.length), v: new Float32Array(value.length) };
}

/** The parameters as graph inputs w0, b0, w1, b1, ... (the head last). */
function parameterInputs(g: GraphBuilder, shapes: readonly WeightShape[]): BackpropValues<string> {
  return {
    weights: shapes.map(({ rows, units }, l) => g.input(`w${l}`, 'float', [rows, units])),
    biases: shapes.map(({ units }, l) => g.input(`b${l}`, 'float', [units])),
  };
}

/** Inputs x, w*, b*, onehot[batch, classes], gradScale; outputs logits, gw* and gb* (the gradients of w* and b*). */
export function backpropTrainModel(config: BackpropConfig): Uint8Array {
  const specs = backpropSpecs(config);
  const shapes = backpropWeightShapes(config, specs);
  const g = new GraphBuilder('backprop_train');
  const ops = new GraphOps(g, { poolIndices: true });
  const x = g.input('x', 'float', ['batch', config.inputSize]);
  const params = parameterInputs(g, shapes);
  const onehot = g.input('onehot', 'float', ['batch', config.classes]);
  const gradScale = g.input('gradScale', 'float', []);
  const r = backpropGradients(ops, specs, x, params, onehot, gradScale);
  g.output(ops.name(r.logits, 'logits'), 'float', ['batch', config.classes]);
  shapes.forEach(({ rows, units }, l) => {
    g.output(ops.name(r.gradWeights[l], `gw${l}`), 'float', [rows, units]);
    g.output(ops.name(r.gradBiases[l], `gb${l}`), 'float', [units]);
  });
  return g.build();
}

/** Inputs x, w*, b*; output logits. */
export function backpropLogitsModel(config: BackpropConfig): Uint8Array {
  const specs = backpropSpecs(config);
  const g = new GraphBuilder('backprop_logits');
  const ops = new GraphOps(g);
  const x = g.input('x', 'float', ['batch', config.inputSize]);
  const logits = backpropLogits(ops, specs, x, parameterInputs(g, backpropWeightShapes(config, specs)));
  g.output(ops.name(logits, 'logits'), 'float', ['batch', config.classes]);
  return g.build();
}

/** Mean cross-entropy of the rows of logits [batch, classes] against the labels. */
function meanCrossEntropy(logits: Float32Array, labels: Int32Array, classes: number): number {
  let sum = 0;
  for (let b = 0; b < labels.length; b++) {
    const row = logits.subarray(b * classes, (b + 1) * classes);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let exp = 0;
    for (const v of row) exp += Math.exp(v - max);
    sum += max + Math.log(exp) - row[labels[b]];
  }
  return sum / labels.length;
}

export class OnnxBackpropNetwork {
  readonly config: BackpropConfig;
  private readonly shapes: WeightShape[];
  private readonly weights: Slot[];
  private readonly biases: Slot[];
  private readonly gradWeights: Float32Array[];
  private readonly gradBiases: Float32Array[];
  private train?: SyncSession;
  private forward?: SyncSession;
  private step = 0;
  private disposed = false;

  private constructor(
    config: BackpropConfig,
    params: BackpropParams,
    private readonly sessionOptions: OnnxSessionOptions,
  ) {
    this.config = config;
    this.shapes = backpropWeightShapes(config, backpropSpecs(config));
    if (params.layers.length !== this.shapes.length) throw new Error(`expected ${this.shapes.length} layers of parameters, got ${params.layers.length}`);
    this.shapes.forEach(({ rows, units }, l) => {
      const p = params.layers[l];
      if (p.weight.length !== rows * units || p.bias.length !== units) throw new Error(`layer ${l}: expected a ${rows}x${units} weight and ${units} biases`);
    });
    this.weights = params.layers.map((p) => slot(p.weight));
    this.biases = params.layers.map((p) => slot(p.bias));
    this.gradWeights = this.weights.map((w) => new Float32Array(w.value.length));
    this.gradBiases = this.biases.map((b) => new Float32Array(b.value.length));
  }

  /** The same initial weights as BackpropNetwork.create with these options. */
  static create(options: BackpropOptions, sessionOptions: OnnxSessionOptions = {}): OnnxBackpropNetwork {
    const config = resolveBackpropConfig(options);
    return new OnnxBackpropNetwork(config, initialBackpropParams(config), sessionOptions);
  }

  static fromParams(options: BackpropOptions, params: BackpropParams, sessionOptions: OnnxSessionOptions = {}): OnnxBackpropNetwork {
    return new OnnxBackpropNetwork(resolveBackpropConfig(options), params, sessionOptions);
  }

  get inputSize(): number {
    return this.config.inputSize;
  }

  get classes(): number {
    return this.config.classes;
  }

  private parameterFeeds(): Record<string, OrtTensor> {
    const feeds: Record<string, OrtTensor> = {};
    this.shapes.forEach(({ rows, units }, l) => {
      feeds[`w${l}`] = floatTensor(this.weights[l].value, [rows, units]);
      feeds[`b${l}`] = floatTensor(this.biases[l].value, [units]);
    });
    return feeds;
  }

  /** One optimiser step on the mean cross-entropy of the batch; returns the loss before the step. */
  trainBatch(x: Float32Array, batch: number, labels: Int32Array): { loss: number } {
    this.checkUsable();
    checkBatch(x, batch, this.config.inputSize);
    checkLabels(labels, batch, this.config.classes);
    const { classes, optimizer } = this.config;
    this.train ??= new SyncSession(backpropTrainModel(this.config), this.sessionOptions);
    const onehot = new Float32Array(batch * classes);
    labels.forEach((label, b) => (onehot[b * classes + label] = 1));
    const logits = new Float32Array(batch * classes);
    const fetches: Record<string, OrtTensor> = { logits: floatTensor(logits, [batch, classes]) };
    this.shapes.forEach(({ rows, units }, l) => {
      fetches[`gw${l}`] = floatTensor(this.gradWeights[l], [rows, units]);
      fetches[`gb${l}`] = floatTensor(this.gradBiases[l], [units]);
    });
    this.train.run(
      {
        x: floatTensor(x, [batch, this.config.inputSize]),
        ...this.parameterFeeds(),
        onehot: floatTensor(onehot, [batch, classes]),
        gradScale: floatTensor(new Float32Array([1 / batch]), []),
      },
      fetches,
    );
    this.step += 1;
    const update = (p: Slot, grad: Float32Array, weightDecay: number) => {
      if (optimizer.kind === 'adam') adamUpdate(p.value, grad, p.m, p.v, optimizer, this.step, weightDecay);
      else sgdUpdate(p.value, grad, p.m, optimizer, weightDecay);
    };
    this.weights.forEach((w, l) => {
      update(w, this.gradWeights[l], optimizer.weightDecay);
      update(this.biases[l], this.gradBiases[l], 0);
    });
    return { loss: meanCrossEntropy(logits, labels, classes) };
  }

  /** Class logits: batch x classes, row-major (one forward pass). */
  logits(x: Float32Array, batch: number): Float32Array {
    this.checkUsable();
    checkBatch(x, batch, this.config.inputSize);
    this.forward ??= new SyncSession(backpropLogitsModel(this.config), this.sessionOptions);
    const out = new Float32Array(batch * this.config.classes);
    this.forward.run(
      { x: floatTensor(x, [batch, this.config.inputSize]), ...this.parameterFeeds() },
      { logits: floatTensor(out, [batch, this.config.classes]) },
    );
    return out;
  }

  predict(x: Float32Array, batch: number): Int32Array {
    return argMaxRows(this.logits(x, batch), batch, this.config.classes);
  }

  readParams(): BackpropParams {
    this.checkUsable();
    return { layers: this.weights.map((w, l) => ({ weight: Float32Array.from(w.value), bias: Float32Array.from(this.biases[l].value) })) };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.train?.dispose();
    this.forward?.dispose();
  }

  private checkUsable(): void {
    if (this.disposed) throw new Error('backprop network (onnx) used after it was disposed');
  }
}
