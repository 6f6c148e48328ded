/** Argument checks every engine's layer makes, so that all engines refuse bad input with the same messages. */
import type { LayerParams, LayerSpec } from './types';

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
export function checkParams(spec: LayerSpec, params: LayerParams): number {
  checkLength('weight', params.weight, spec.inputSize * spec.units);
  checkLength('bias', params.bias, spec.units);
  return prototypeRowsOf(params.prototypes, spec.units);
}

export function checkBatch(spec: LayerSpec, disposed: boolean, x: Float32Array, batch: number): void {
  if (disposed) throw new Error('layer used after it was disposed');
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
  checkLength('input', x, batch * spec.inputSize);
}

export function checkLabels(spec: LayerSpec, prototypeRows: number, labels: Int32Array, batch: number): void {
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
