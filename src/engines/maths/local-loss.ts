/**
 * The local loss every HFF layer kind trains its output with, written once against LayerOps. A layer's output rows
 * h (a dense map's activations; a convolution's pooled feature maps, flattened) are made unit length, z, and scored
 * by softmax cross-entropy over their cosines to unit prototypes, divided by a temperature tau, with an additive
 * margin taken off the true class's cosines. With M prototypes per class a class's logit is the LogSumExp of its
 * prototypes' scaled cosines (M = 1: the plain cosine softmax).
 *
 *   z = h / max(||h||, 1e-12)     cos = z P^T     logits_c = LSE_m((cos_cm - margin [c = y]) / tau)
 *   L = mean over the batch of CE(softmax(logits), y)
 *
 * with its hand-written gradients with respect to h and to the prototypes (tangent to the sphere, since prototypes
 * stay unit length). A layer kind chains dL/dh back through the rest of its own forward pass.
 */
import type { LayerOps } from './ops';

export interface LossSettings {
  /** Softmax temperature of the cosine logits. */
  tau: number;
  /** Additive margin subtracted from the true class's cosines. */
  margin: number;
  prototypesPerClass: number;
}

/** The labels in the form the loss takes them, built by `lossTargets`. */
export interface LossTargets<V> {
  /** [batch, classes], one at each row's class. */
  onehot: V;
  /** [batch, prototype rows], the margin on the true class's prototypes; absent when the margin is zero. */
  shift?: V;
  /** The scalar 1 / (batch tau): the mean over the batch and the 1/tau of the cosine scale. */
  gradScale: V;
}

/** A layer's output rows made unit length, with the norms the gradient through that needs. */
export interface UnitRows<V> {
  z: V;
  /** max(||h||, 1e-12) per row, as a column. */
  norms: V;
}

export interface LocalLoss<V> {
  /** [batch, prototype rows] cosines of z to the prototypes. */
  cos: V;
  /** [batch, classes]; the loss and accuracy follow from them and the labels (`lossAndCorrect`). */
  logits: V;
  /** dL/dh, the gradient of the rows before their normalisation. */
  dRows: V;
  /** dL/dP, projected on the tangent space of each prototype. */
  dPrototypes: V;
}

export function unitRows<V>(ops: LayerOps<V>, h: V): UnitRows<V> {
  const norms = ops.rowNorms(h);
  return { z: ops.div(h, norms), norms };
}

/** Cosines [batch, prototype rows] of unit rows z to unit prototype rows. */
export function cosines<V>(ops: LayerOps<V>, z: V, prototypes: V): V {
  return ops.matMul(z, prototypes, false, true);
}

export function localLoss<V>(ops: LayerOps<V>, settings: LossSettings, output: UnitRows<V>, prototypes: V, targets: LossTargets<V>): LocalLoss<V> {
  const { z, norms } = output;
  const m = settings.prototypesPerClass;
  const cos = cosines(ops, z, prototypes);
  const shifted = targets.shift ? ops.sub(cos, targets.shift) : cos;
  const scaled = ops.mul(shifted, ops.scalar(1 / settings.tau));
  const logits = m === 1 ? scaled : ops.groupLogSumExp(scaled, m);
  // dL/dlogits with the cosine scale's 1/tau folded in (gradScale = 1 / (batch tau)); through the LogSumExp, dL/dcos.
  const dLogits = ops.mul(ops.sub(ops.softmax(logits), targets.onehot), targets.gradScale);
  const dCos = m === 1 ? dLogits : ops.groupLogSumExpGradient(scaled, dLogits, m);
  const dZ = ops.matMul(dCos, prototypes, false, false);
  const dPRaw = ops.matMul(dCos, z, true, false);
  const dPrototypes = ops.sub(dPRaw, ops.mul(prototypes, ops.rowSums(ops.mul(prototypes, dPRaw))));
  // z = h / ||h||: the radial part of dZ does not move z; the rest scales with 1 / ||h||.
  const dRows = ops.div(ops.sub(dZ, ops.mul(z, ops.rowSums(ops.mul(z, dZ)))), norms);
  return { cos, logits, dRows, dPrototypes };
}

/** The loss targets of `labels` as arrays, row-major, for an engine to turn into its values. */
export function lossTargets(
  settings: LossSettings,
  labels: Int32Array,
  classes: number,
): { onehot: Float32Array; shift: Float32Array | undefined; gradScale: number } {
  const batch = labels.length;
  const m = settings.prototypesPerClass;
  const rows = classes * m;
  const onehot = new Float32Array(batch * classes);
  for (let b = 0; b < batch; b++) onehot[b * classes + labels[b]] = 1;
  let shift: Float32Array | undefined;
  if (settings.margin !== 0) {
    shift = new Float32Array(batch * rows);
    for (let b = 0; b < batch; b++) shift.fill(settings.margin, b * rows + labels[b] * m, b * rows + (labels[b] + 1) * m);
  }
  return { onehot, shift, gradScale: 1 / (batch * settings.tau) };
}

/**
 * Mean cross-entropy of softmax(logits) and the number of rows whose highest logit is the label (the first maximum
 * wins ties), in float64.
 */
export function lossAndCorrect(logits: ArrayLike<number>, labels: Int32Array, classes: number): { loss: number; correct: number } {
  const batch = labels.length;
  let total = 0;
  let correct = 0;
  for (let b = 0; b < batch; b++) {
    const o = b * classes;
    let max = -Infinity;
    let arg = 0;
    for (let c = 0; c < classes; c++) {
      if (logits[o + c] > max) {
        max = logits[o + c];
        arg = c;
      }
    }
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(logits[o + c] - max);
    total += max + Math.log(sum) - logits[o + labels[b]];
    if (arg === labels[b]) correct += 1;
  }
  return { loss: total / batch, correct };
}
