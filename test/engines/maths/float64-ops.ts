/**
 * LayerOps on plain float64 matrices: the reference the layer definitions (src/engines/maths) are run with in the
 * tests, checked against finite differences, and that every engine must agree with within float32 rounding.
 */
import { type LayerOps, NORM_EPSILON } from '../../../src/engines/maths/ops';

/** A row-major matrix; vectors (a bias, column sums) are one row, scalars one row of one column. */
export class Matrix {
  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly data: Float64Array = new Float64Array(rows * cols),
  ) {
    if (data.length !== rows * cols) throw new Error(`matrix ${rows}x${cols} given ${data.length} values`);
  }

  static of(values: ArrayLike<number>, rows: number, cols: number): Matrix {
    return new Matrix(rows, cols, Float64Array.from(values));
  }

  at(r: number, c: number): number {
    return this.data[r * this.cols + c];
  }
}

function map(x: Matrix, f: (v: number) => number): Matrix {
  return new Matrix(x.rows, x.cols, x.data.map(f));
}

/** Elementwise a op b, either broadcast when it is a column, a row or a scalar of the other's shape. */
function broadcast(a: Matrix, b: Matrix, f: (u: number, v: number) => number): Matrix {
  const rows = Math.max(a.rows, b.rows);
  const cols = Math.max(a.cols, b.cols);
  for (const m of [a, b]) {
    if ((m.rows !== rows && m.rows !== 1) || (m.cols !== cols && m.cols !== 1)) {
      throw new Error(`cannot broadcast ${a.rows}x${a.cols} with ${b.rows}x${b.cols}`);
    }
  }
  const out = new Matrix(rows, cols);
  const at = (m: Matrix, r: number, c: number) => m.at(m.rows === 1 ? 0 : r, m.cols === 1 ? 0 : c);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out.data[r * cols + c] = f(at(a, r, c), at(b, r, c));
  }
  return out;
}

function perRow(x: Matrix, f: (row: Float64Array) => number): Matrix {
  const out = new Matrix(x.rows, 1);
  for (let r = 0; r < x.rows; r++) out.data[r] = f(x.data.subarray(r * x.cols, (r + 1) * x.cols));
  return out;
}

/** Each group of `size` consecutive columns of each row, transformed to `width` values. */
function perGroup(x: Matrix, size: number, width: number, f: (group: Float64Array, r: number, g: number) => ArrayLike<number>): Matrix {
  const groups = x.cols / size;
  const out = new Matrix(x.rows, groups * width);
  for (let r = 0; r < x.rows; r++) {
    for (let g = 0; g < groups; g++) {
      const start = r * x.cols + g * size;
      out.data.set(f(x.data.subarray(start, start + size), r, g), r * out.cols + g * width);
    }
  }
  return out;
}

function sum(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s;
}

function logSumExp(values: Float64Array): number {
  const max = Math.max(...values);
  return max + Math.log(sum(values.map((v) => Math.exp(v - max))));
}

function softmaxOf(values: Float64Array): Float64Array {
  const lse = logSumExp(values);
  return values.map((v) => Math.exp(v - lse));
}

export class Float64Ops implements LayerOps<Matrix> {
  affine(x: Matrix, weight: Matrix, bias: Matrix): Matrix {
    return broadcast(this.matMul(x, weight, false, false), bias, (u, v) => u + v);
  }

  matMul(a: Matrix, b: Matrix, transposeA: boolean, transposeB: boolean): Matrix {
    const left = transposeA ? transpose(a) : a;
    const right = transposeB ? transpose(b) : b;
    if (left.cols !== right.rows) throw new Error(`matMul of ${left.rows}x${left.cols} and ${right.rows}x${right.cols}`);
    const out = new Matrix(left.rows, right.cols);
    for (let r = 0; r < left.rows; r++) {
      for (let c = 0; c < right.cols; c++) {
        let s = 0;
        for (let k = 0; k < left.cols; k++) s += left.at(r, k) * right.at(k, c);
        out.data[r * right.cols + c] = s;
      }
    }
    return out;
  }

  sub(a: Matrix, b: Matrix): Matrix {
    return broadcast(a, b, (u, v) => u - v);
  }

  mul(a: Matrix, b: Matrix): Matrix {
    return broadcast(a, b, (u, v) => u * v);
  }

  div(a: Matrix, b: Matrix): Matrix {
    return broadcast(a, b, (u, v) => u / v);
  }

  scalar(value: number): Matrix {
    return Matrix.of([value], 1, 1);
  }

  relu(x: Matrix): Matrix {
    return map(x, (v) => Math.max(v, 0));
  }

  leakyRelu(x: Matrix, slope: number): Matrix {
    return map(x, (v) => (v > 0 ? v : slope * v));
  }

  tanh(x: Matrix): Matrix {
    return map(x, Math.tanh);
  }

  positiveGate(output: Matrix, gradient: Matrix, negativeSlope: number): Matrix {
    return broadcast(output, gradient, (o, g) => (o > 0 ? g : negativeSlope * g));
  }

  rowSums(x: Matrix): Matrix {
    return perRow(x, sum);
  }

  rowMeans(x: Matrix): Matrix {
    return perRow(x, (row) => sum(row) / row.length);
  }

  columnSums(x: Matrix): Matrix {
    return transpose(this.rowSums(transpose(x)));
  }

  rowNorms(x: Matrix): Matrix {
    return perRow(x, (row) => Math.max(Math.sqrt(sum(row.map((v) => v * v))), NORM_EPSILON));
  }

  normalizeRows(x: Matrix): Matrix {
    return this.div(x, this.rowNorms(x));
  }

  softmax(x: Matrix): Matrix {
    return perGroup(x, x.cols, x.cols, softmaxOf);
  }

  groupLogSumExp(x: Matrix, size: number): Matrix {
    return perGroup(x, size, 1, (group) => [logSumExp(group)]);
  }

  groupLogSumExpGradient(x: Matrix, upstream: Matrix, size: number): Matrix {
    return perGroup(x, size, size, (group, r, g) => softmaxOf(group).map((w) => w * upstream.at(r, g)));
  }
}

function transpose(x: Matrix): Matrix {
  const out = new Matrix(x.cols, x.rows);
  for (let r = 0; r < x.rows; r++) for (let c = 0; c < x.cols; c++) out.data[c * x.rows + r] = x.at(r, c);
  return out;
}
