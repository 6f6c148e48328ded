/**
 * The backprop baseline's maths, written once against LayerOps (as the HFF layers are in src/engines/maths), so
 * that it runs eagerly on tfjs (./backprop.ts) and as an ONNX graph on onnxruntime (./backprop-onnx.ts):
 *
 *   hidden layers: dense  h = relu(x W + b)      block  h = maxpool_p(relu(conv_k(maps, W) + b))  (HFF's blocks)
 *   head: logits = top W + b, top = the last layer's output as rows (a block's pooled maps flattened, HWC)
 *   dLogits = (softmax(logits) - onehot) * gradScale (1 / batch: the mean cross-entropy), then down through the
 *   layers: dW, db per layer and d(input) for the layer below (a block's through conv2dInputGradient).
 */
import type { LayerOps } from '../engines/maths/ops';
import { type Conv2dLayerSpec, type EngineLayerSpec, type MapShape, conv2dOutputShape, isConv2dSpec } from '../engines/types';

/** Hidden layers, then the head: a weight [rows, units] and a bias [units] each. */
export interface BackpropValues<V> {
  weights: V[];
  biases: V[];
}

export interface BackpropGradients<V> {
  logits: V;
  gradWeights: V[];
  gradBiases: V[];
}

/** What the forward pass keeps of a hidden layer for the backward pass. */
interface Kept<V> {
  /** The layer's input: rows for a dense layer, maps for a block. */
  input: V;
  /** After the activation (before pooling). */
  activated: V;
  pooled: V;
}

function convolvedShape(spec: Conv2dLayerSpec): MapShape {
  return { ...spec.input, channels: spec.filters };
}

/** The hidden layers on rows x: what each keeps, and the head's input rows. */
function hidden<V>(ops: LayerOps<V>, specs: readonly EngineLayerSpec[], x: V, params: BackpropValues<V>): { kept: Kept<V>[]; top: V } {
  const kept: Kept<V>[] = [];
  let h = x;
  specs.forEach((spec, l) => {
    const below = specs[l - 1];
    const belowIsBlock = below !== undefined && isConv2dSpec(below);
    if (isConv2dSpec(spec)) {
      const maps = belowIsBlock ? h : ops.toMaps(h, spec.input);
      const activated = ops.relu(ops.conv2d(maps, spec.input, params.weights[l], params.biases[l], spec.kernel));
      const pooled = spec.pool > 1 ? ops.maxPool(activated, convolvedShape(spec), spec.pool) : activated;
      kept.push({ input: maps, activated, pooled });
      h = pooled;
    } else {
      const rows = belowIsBlock ? ops.fromMaps(h, conv2dOutputShape(below)) : h;
      const activated = ops.relu(ops.affine(rows, params.weights[l], params.biases[l]));
      kept.push({ input: rows, activated, pooled: activated });
      h = activated;
    }
  });
  const last = specs[specs.length - 1];
  return { kept, top: isConv2dSpec(last) ? ops.fromMaps(h, conv2dOutputShape(last)) : h };
}

/** Class logits [batch, classes] of rows x. */
export function backpropLogits<V>(ops: LayerOps<V>, specs: readonly EngineLayerSpec[], x: V, params: BackpropValues<V>): V {
  const head = specs.length;
  return ops.affine(hidden(ops, specs, x, params).top, params.weights[head], params.biases[head]);
}

/** Logits and the gradients of the mean cross-entropy (gradScale = 1 / batch) for every weight and bias. */
export function backpropGradients<V>(
  ops: LayerOps<V>,
  specs: readonly EngineLayerSpec[],
  x: V,
  params: BackpropValues<V>,
  onehot: V,
  gradScale: V,
): BackpropGradients<V> {
  const { kept, top } = hidden(ops, specs, x, params);
  const head = specs.length;
  const logits = ops.affine(top, params.weights[head], params.biases[head]);
  const dLogits = ops.mul(ops.sub(ops.softmax(logits), onehot), gradScale);
  const gradWeights: V[] = [];
  const gradBiases: V[] = [];
  gradWeights[head] = ops.matMul(top, dLogits, true, false);
  gradBiases[head] = ops.columnSums(dLogits);
  // dL/d(the output of layer l), as rows until a block turns it into maps.
  let dOut = ops.matMul(dLogits, params.weights[head], false, true);
  for (let l = head - 1; l >= 0; l--) {
    const spec = specs[l];
    const { input, activated, pooled } = kept[l];
    if (isConv2dSpec(spec)) {
      const shape = convolvedShape(spec);
      const above = specs[l + 1];
      const dPooled = above !== undefined && isConv2dSpec(above) ? dOut : ops.toMaps(dOut, conv2dOutputShape(spec));
      const dH = spec.pool > 1 ? ops.maxPoolGradient(activated, pooled, dPooled, shape, spec.pool) : dPooled;
      const dA = ops.positiveGate(activated, dH, 0);
      gradWeights[l] = ops.conv2dFilterGradient(input, spec.input, dA, spec.filters, spec.kernel);
      gradBiases[l] = ops.mapChannelSums(dA, shape);
      if (l > 0) dOut = ops.conv2dInputGradient(dA, spec.input, params.weights[l], spec.kernel);
    } else {
      const dA = ops.positiveGate(activated, dOut, 0);
      gradWeights[l] = ops.matMul(input, dA, true, false);
      gradBiases[l] = ops.columnSums(dA);
      if (l > 0) dOut = ops.matMul(dA, params.weights[l], false, true);
    }
  }
  return { logits, gradWeights, gradBiases };
}
