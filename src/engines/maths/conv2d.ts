/**
 * The convolutional HFF layer kind (a block of the HFF paper's CNN), written once against LayerOps like ./dense.ts:
 *
 *   maps = x as feature maps (rows in HWC order)     h = act(conv_k(maps, W) + b)  (stride 1, 'same' padding)
 *   pooled = maxpool_p(h)  (p = 1: h)     g = mean of pooled over positions [batch, filters]
 *   local loss of g (./local-loss.ts) -> dG     dPooled = dG / positions     dH = max-pool routing of dPooled
 *   dA = act'(.) dH     dW = filter gradient of (maps, dA)     db = per-filter sum of dA
 *
 * The block trains on its own: no gradient reaches its input. What it passes up is `pooled` flattened per image
 * (HWC order) and made unit length, so the layer above sees unit rows as it does above a dense layer; what its
 * prototypes (width `filters`) are matched against, and what the class book imprints, is z, the unit g.
 */
import { type Conv2dLayerSpec, type MapShape, conv2dOutputShape } from '../types';
import { activate, activationGradient } from './activation';
import { type LossTargets, type UnitRows, localLoss, unitRows } from './local-loss';
import type { LayerOps } from './ops';

/** The block as the definition needs it (the engines' Conv2dLayerSpec without its tag). */
export type Conv2dSpec = Omit<Conv2dLayerSpec, 'kind'>;

export interface Conv2dForward<V> extends UnitRows<V> {
  maps: V;
  /** act(conv + b), before pooling. */
  h: V;
  pooled: V;
  /** What the block passes up: pooled as unit rows [batch, passedWidth]. */
  output: V;
}

export interface Conv2dTraining<V> {
  /** The unit pooled vectors [batch, filters] the prototypes are matched against. */
  z: V;
  output: V;
  cos: V;
  logits: V;
  gradWeight: V;
  gradBias: V;
  gradPrototypes: V;
}

function convolvedShape(spec: Conv2dSpec): MapShape {
  return { height: spec.input.height, width: spec.input.width, channels: spec.filters };
}

/** The forward pass with the values its gradients need. */
export function conv2dForward<V>(ops: LayerOps<V>, spec: Conv2dSpec, x: V, weight: V, bias: V): Conv2dForward<V> {
  const maps = ops.toMaps(x, spec.input);
  const h = activate(ops, spec.activation, ops.conv2d(maps, spec.input, weight, bias, spec.kernel));
  const pooled = spec.pool > 1 ? ops.maxPool(h, convolvedShape(spec), spec.pool) : h;
  const outShape = conv2dOutputShape(spec);
  const output = ops.normalizeRows(ops.fromMaps(pooled, outShape));
  return { maps, h, pooled, output, ...unitRows(ops, ops.globalAveragePool(pooled, outShape)) };
}

/** Forward pass, local loss and the gradients of the filter, bias and prototypes for one batch. */
export function conv2dTraining<V>(
  ops: LayerOps<V>,
  spec: Conv2dSpec,
  x: V,
  params: { weight: V; bias: V; prototypes: V },
  targets: LossTargets<V>,
): Conv2dTraining<V> {
  const f = conv2dForward(ops, spec, x, params.weight, params.bias);
  const loss = localLoss(ops, spec, f, params.prototypes, targets);
  const hShape = convolvedShape(spec);
  const dPooled = ops.globalAveragePoolGradient(loss.dRows, conv2dOutputShape(spec));
  const dH = spec.pool > 1 ? ops.maxPoolGradient(f.h, f.pooled, dPooled, hShape, spec.pool) : dPooled;
  const dA = activationGradient(ops, spec.activation, f.h, dH);
  return {
    z: f.z,
    output: f.output,
    cos: loss.cos,
    logits: loss.logits,
    gradWeight: ops.conv2dFilterGradient(f.maps, spec.input, dA, spec.filters, spec.kernel),
    gradBias: ops.mapChannelSums(dA, hShape),
    gradPrototypes: loss.dPrototypes,
  };
}
