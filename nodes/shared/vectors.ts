/**
 * What a message may carry as model input, turned into a VectorInput without any arithmetic:
 * a Float32Array (or another numeric typed array), a number array, an array of those for a batch, or the same
 * as JSON text (MQTT and HTTP payloads often arrive as strings or Buffers of JSON).
 */
import { classNameProblem } from '../../src/hff/class-names';
import type { HffNetwork } from '../../src/hff/network';
import { FLOAT32_MAX, assertFinite } from '../../src/hff/vectors';
import { describe } from './settings';

/**
 * Most values one message may carry as vectors (64 MB of float32, e.g. 20,000 rows of 784): more is refused
 * before anything is copied, so that one message cannot take the runtime's memory.
 */
export const MAX_MESSAGE_VALUES = 16_000_000;

/** An input batch as plain numbers: one vector, or an array of vectors. */
export type VectorInput = Float32Array | number[] | ArrayLike<number>[];

export interface ParsedVectors {
  input: VectorInput;
  /** True when the message carried several vectors: results are then arrays too. */
  batched: boolean;
  rows: number;
}

function isNumericView(value: unknown): value is ArrayLike<number> & ArrayBufferView {
  return ArrayBuffer.isView(value) && !(value instanceof DataView) && !(value instanceof BigInt64Array) && !(value instanceof BigUint64Array);
}

/** Throws unless every value is a finite number that float32 can hold (1e39 would become Infinity there). */
function checkValues(values: ArrayLike<unknown>, what: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number') {
      const hole = Array.isArray(values) && !(i in values);
      throw new Error(
        hole ? `${what}[${i}] is an empty slot (a sparse array): every element must be a number` : `${what}[${i}] is ${describe(v)}, expected a number`,
      );
    }
    if (!Number.isFinite(Math.fround(v))) {
      throw new Error(`${what}[${i}] is ${v}: every value must be a finite number within ±${FLOAT32_MAX.toPrecision(3)} (the float32 range models use)`);
    }
  }
}

function asRow(value: unknown, what: string): Float32Array | number[] {
  if (Buffer.isBuffer(value)) {
    throw new Error(`${what} is ${describe(value)}: send numbers as a JSON array or a Float32Array (pictures go through hff-image first)`);
  }
  if (isNumericView(value) || Array.isArray(value)) {
    const values = value as ArrayLike<unknown>;
    if (values.length === 0) throw new Error(`${what} is an empty vector`);
    checkValues(values, what);
    return value instanceof Float32Array || Array.isArray(value) ? (value as Float32Array | number[]) : Float32Array.from(values as ArrayLike<number>);
  }
  throw new Error(`${what} is ${describe(value)}, expected a vector of numbers`);
}

/** Throws when a message carries more values than MAX_MESSAGE_VALUES. */
function checkTotal(total: number, what: string): void {
  if (total > MAX_MESSAGE_VALUES) {
    throw new Error(`${what} carries ${total} values; one message may carry at most ${MAX_MESSAGE_VALUES} (send large batches in parts)`);
  }
}

/** Reads a vector or a batch of vectors from a message property; `what` names it in errors (e.g. 'msg.payload'). */
export function readVectors(value: unknown, what = 'msg.payload'): ParsedVectors {
  let v = value;
  if (Buffer.isBuffer(v)) {
    const text = v.toString('utf8').trim();
    if (!text.startsWith('[')) {
      throw new Error(`${what} is ${describe(v)}: send numbers as a JSON array or a Float32Array (pictures go through hff-image first)`);
    }
    v = text;
  }
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      throw new Error(`${what} is ${describe(value)}, which is not a JSON number array`);
    }
  }
  if (isNumericView(v) && !Buffer.isBuffer(v)) {
    checkTotal(v.length, what);
    return { input: asRow(v, what), batched: false, rows: 1 };
  }
  if (Array.isArray(v)) {
    if (v.length === 0) throw new Error(`${what} is an empty array: expected a vector or a batch of vectors`);
    if (!(0 in v)) throw new Error(`${what} is a sparse array (its first element is an empty slot): send a vector of numbers or an array of vectors`);
    checkTotal(v.length, what);
    if (typeof v[0] === 'number') return { input: asRow(v, what), batched: false, rows: 1 };
    // A plain loop: map() would skip the empty slots of a sparse array and leave zero rows behind.
    const rows: (Float32Array | number[])[] = new Array(v.length);
    let total = 0;
    for (let i = 0; i < v.length; i++) {
      if (!(i in v)) throw new Error(`${what}[${i}] is an empty slot (a sparse array): every row must be a vector`);
      const row = v[i] as unknown;
      total += ArrayBuffer.isView(row) || Array.isArray(row) ? (row as ArrayLike<unknown>).length : 0;
      checkTotal(total, what);
      rows[i] = asRow(row, `${what}[${i}]`);
    }
    return { input: rows, batched: true, rows: rows.length };
  }
  throw new Error(`${what} must be a vector (number array or Float32Array) or an array of vectors, got ${describe(value)}`);
}

/**
 * One row-major batch from a vector or an array of vectors of length `size`, checking lengths and finiteness;
 * `what` names the input in errors.
 */
export function toBatch(input: VectorInput, size: number, what = 'input'): { data: Float32Array; batch: number } {
  if (Array.isArray(input) && input.length === 0) throw new Error(`${what}: expected a vector or a non-empty array of vectors`);
  const rows: ArrayLike<number>[] =
    input instanceof Float32Array || (Array.isArray(input) && (input.length === 0 || typeof input[0] === 'number'))
      ? [input as ArrayLike<number>]
      : (input as ArrayLike<number>[]);
  if (!Array.isArray(rows) || rows.length === 0) throw new Error(`${what}: expected a vector or a non-empty array of vectors`);
  const data = new Float32Array(rows.length * size);
  rows.forEach((r, i) => {
    if (!r || typeof r.length !== 'number') throw new Error(`${what}: row ${i} is not a vector`);
    if (r.length !== size) {
      throw new Error(`${what}: expected a vector of length ${size}, got length ${r.length}${rows.length > 1 ? ` in row ${i}` : ''}`);
    }
    assertFinite(rows.length > 1 ? `${what} row ${i}` : what, r);
    data.set(r, i * size);
  });
  return { data, batch: rows.length };
}

/** A class given by name or index, as msg.label may carry it. */
export type LabelValue = string | number;

function checkLabel(value: unknown, what: string): LabelValue {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) throw new Error(`${what} must be a class name or a class index (integer >= 0), got ${value}`);
    return value;
  }
  if (typeof value === 'string') {
    if (value.trim() === '') throw new Error(`${what} is an empty string: give the class name (or index)`);
    const problem = classNameProblem(value);
    if (problem !== undefined) throw new Error(`${what}: ${problem}`);
    return value;
  }
  throw new Error(`${what} must be a class name or index, got ${describe(value)}`);
}

/**
 * One label per row: msg.label may be a single name/index for every row, or an array with one per row.
 * Throws when missing (`required`) or of the wrong shape.
 */
export function readLabels(value: unknown, rows: number, what = 'msg.label'): LabelValue[] {
  if (value === undefined || value === null || value === '') {
    throw new Error(`${what} is missing: give the class name (or index) of the input`);
  }
  if (Array.isArray(value)) {
    if (value.length !== rows) throw new Error(`${what} has ${value.length} labels but msg.payload has ${rows} vectors`);
    return value.map((l, i) => checkLabel(l, `${what}[${i}]`));
  }
  const one = checkLabel(value, what);
  return new Array<LabelValue>(rows).fill(one);
}

/** A short text for a label as the user gave it. */
export function labelText(label: LabelValue): string {
  return typeof label === 'number' ? `#${label}` : label;
}

/** Class indices of labels that must already exist in the network (for training steps). */
export function knownClassIndices(net: HffNetwork, labels: LabelValue[]): Int32Array {
  const out = new Int32Array(labels.length);
  labels.forEach((label, i) => {
    const index = net.classIndex(label);
    if (index === undefined) {
      throw new Error(
        `unknown class '${label}'; known classes: ${net.classes.join(', ') || '(none)'}. ` + "Teach it first with hff-teach or list it in the model's classes",
      );
    }
    out[i] = index;
  });
  return out;
}

/**
 * Rows of a row-major block as separate vectors, each with its own buffer: Node-RED copies a typed array's whole
 * underlying buffer when it clones a message, so views into one block would make every cloned row as big as the
 * batch (memory growing with the square of the batch).
 */
export function splitRows(data: Float32Array, rows: number): Float32Array[] {
  const size = data.length / rows;
  return Array.from({ length: rows }, (_, r) => data.slice(r * size, (r + 1) * size));
}

/** The vector itself when it owns its whole buffer, else a copy (see splitRows). */
export function ownBuffer(v: Float32Array): Float32Array {
  return v.byteOffset === 0 && v.byteLength === v.buffer.byteLength ? v : v.slice();
}

/** True when the `size` values from `offset` are all zero: such an input has no direction to compare. */
export function isBlank(data: Float32Array, offset: number, size: number): boolean {
  for (let i = offset; i < offset + size; i++) if (data[i] !== 0) return false;
  return true;
}

/** Per class, the score of one row of a batch x classes block, named. */
export function namedScores(classes: readonly string[], scores: Float32Array, row: number): { label: string; index: number; score: number }[] {
  const k = classes.length;
  return classes.map((label, index) => ({ label, index, score: scores[row * k + index] }));
}
