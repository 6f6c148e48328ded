/** Argument checks every engine's layer makes, so that all engines refuse bad input with the same messages. */
import { type EngineLayerSpec, type LayerParams, inputWidth, isConv2dSpec, prototypeWidth, weightRows } from './types';

export function checkLength(what: string, data: Float32Array, expected: number): void {
  if (data.length !== expected) throw new Error(`${what}: expected ${expected} values, got ${data.length}`);
}

/** Number of prototype rows in a flat prototype array; throws unless it is whole. */
export function prototypeRowsOf(prototypes: Float32Array, units: number): number {
  const rows = prototypes.length / units;
  if (!Number.isInteger(rows)) throw new Error(`prototypes: length ${prototypes.length} is not a multiple of ${units} units`);
  return rows;
}

/** Checks initial parameters against the spec and returns the number of prototype rows. */
export function checkParams(spec: EngineLayerSpec, params: LayerParams): number {
  if (isConv2dSpec(spec) && !(spec.kernel % 2 === 1 && spec.pool >= 1 && spec.pool <= Math.min(spec.input.height, spec.input.width))) {
    throw new Error(`conv2d layer: the kernel must be odd and the pool between 1 and the maps' side, got kernel ${spec.kernel}, pool ${spec.pool}`);
  }
  checkLength('weight', params.weight, weightRows(spec) * prototypeWidth(spec));
  checkLength('bias', params.bias, prototypeWidth(spec));
  return prototypeRowsOf(params.prototypes, prototypeWidth(spec));
}

export function checkBatch(spec: EngineLayerSpec, disposed: boolean, x: Float32Array, batch: number): void {
  if (disposed) throw new Error('layer used after it was disposed');
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
  checkLength('input', x, batch * inputWidth(spec));
}

export function checkLabels(spec: EngineLayerSpec, prototypeRows: number, labels: Int32Array, batch: number): void {
  if (labels.length !== batch) throw new Error(`expected ${batch} labels, got ${labels.length}`);
  const classes = prototypeRows / spec.prototypesPerClass;
  for (const label of labels) {
    if (!(label >= 0 && label < classes)) throw new Error(`label ${label} is outside 0..${classes - 1}`);
  }
}

export function checkMatcherRows(rows: Float32Array, count: number, dim: number): void {
  if (!Number.isInteger(count) || count < 0 || !Number.isInteger(dim) || dim < 1 || rows.length < count * dim) {
    throw new Error(`row matcher: expected ${count} row(s) of ${dim} values, got ${rows.length} values`);
  }
}
