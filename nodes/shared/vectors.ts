/**
 * What a message may carry as model input, turned into the library's VectorInput without any arithmetic:
 * a Float32Array (or another numeric typed array), a number array, an array of those for a batch, or the same
 * as JSON text (MQTT and HTTP payloads often arrive as strings or Buffers of JSON).
 */
import type { HffNetwork, VectorInput } from '../../src/hff/network';

export interface ParsedVectors {
  input: VectorInput;
  /** True when the message carried several vectors: results are then arrays too. */
  batched: boolean;
  rows: number;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing (undefined)';
  if (Buffer.isBuffer(value)) return `a Buffer of ${value.length} bytes`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return `a value of type ${typeof value}`;
}

function isNumericView(value: unknown): value is ArrayLike<number> & ArrayBufferView {
  return ArrayBuffer.isView(value) && !(value instanceof DataView) && !(value instanceof BigInt64Array) && !(value instanceof BigUint64Array);
}

function asRow(value: unknown, what: string): Float32Array | number[] {
  if (value instanceof Float32Array) return value;
  if (Buffer.isBuffer(value)) {
    throw new Error(`${what} is ${describe(value)}: send numbers as a JSON array or a Float32Array (pictures go through hff-image first)`);
  }
  if (isNumericView(value)) return Float32Array.from(value as ArrayLike<number>);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (typeof value[i] !== 'number') {
        throw new Error(`${what}[${i}] is ${describe(value[i])}, expected a number`);
      }
    }
    return value as number[];
  }
  throw new Error(`${what} is ${describe(value)}, expected a vector of numbers`);
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
  if (v instanceof Float32Array || (isNumericView(v) && !Buffer.isBuffer(v))) {
    if ((v as ArrayLike<number>).length === 0) throw new Error(`${what} is an empty vector`);
    return { input: asRow(v, what), batched: false, rows: 1 };
  }
  if (Array.isArray(v)) {
    if (v.length === 0) throw new Error(`${what} is an empty array: expected a vector or a batch of vectors`);
    if (typeof v[0] === 'number') return { input: asRow(v, what), batched: false, rows: 1 };
    const rows = v.map((row, i) => asRow(row, `${what}[${i}]`));
    return { input: rows, batched: true, rows: rows.length };
  }
  throw new Error(`${what} must be a vector (number array or Float32Array) or an array of vectors, got ${describe(value)}`);
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
        `unknown class '${label}'; known classes: ${net.classes.join(', ') || '(none)'}. ` +
          "Teach it first with hff-teach or list it in the model's classes",
      );
    }
    out[i] = index;
  });
  return out;
}

/** Rows of a row-major block as separate vectors (views, no copy). */
export function splitRows(data: Float32Array, rows: number): Float32Array[] {
  const size = data.length / rows;
  return Array.from({ length: rows }, (_, r) => data.subarray(r * size, (r + 1) * size));
}

/** Per class, the score of one row of a batch x classes block, named. */
export function namedScores(classes: readonly string[], scores: Float32Array, row: number): { label: string; index: number; score: number }[] {
  const k = classes.length;
  return classes.map((label, index) => ({ label, index, score: scores[row * k + index] }));
}
