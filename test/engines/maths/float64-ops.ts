/**
 * LayerOps on plain float64 matrices: the reference the layer definitions (src/engines/maths) are run with in the
 * tests, checked against finite differences, and that every engine must agree with within float32 rounding.
 */
import { type LayerOps, NORM_EPSILON, mapSize } from '../../../src/engines/maths/ops';
import type { MapShape } from '../../../src/engines/types';

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

  /** Maps are rows in HWC order here: the layout the definitions hand over is already this one. */
  toMaps(rows: Matrix, shape: MapShape): Matrix {
    checkMaps(rows, shape);
    return rows;
  }

  fromMaps(maps: Matrix, shape: MapShape): Matrix {
    checkMaps(maps, shape);
    return maps;
  }

  conv2d(maps: Matrix, shape: MapShape, filter: Matrix, bias: Matrix, kernel: number): Matrix {
    checkMaps(maps, shape);
    const { height, width, channels } = shape;
    const filters = filter.cols;
    const out = new Matrix(maps.rows, height * width * filters);
    forEachTap(maps.rows, shape, kernel, (b, i, j, ki, kj, c, inIndex) => {
      const tap = (ki * kernel + kj) * channels + c;
      const o = b * out.cols + (i * width + j) * filters;
      for (let f = 0; f < filters; f++) out.data[o + f] += maps.data[inIndex] * filter.at(tap, f);
    });
    for (let b = 0; b < maps.rows; b++) {
      for (let p = 0; p < height * width; p++) for (let f = 0; f < filters; f++) out.data[b * out.cols + p * filters + f] += bias.data[f];
    }
    return out;
  }

  conv2dFilterGradient(maps: Matrix, shape: MapShape, gradient: Matrix, filters: number, kernel: number): Matrix {
    checkMaps(maps, shape);
    const { width, channels } = shape;
    const out = new Matrix(kernel * kernel * channels, filters);
    forEachTap(maps.rows, shape, kernel, (b, i, j, ki, kj, c, inIndex) => {
      const tap = (ki * kernel + kj) * channels + c;
      const g = b * gradient.cols + (i * width + j) * filters;
      for (let f = 0; f < filters; f++) out.data[tap * filters + f] += maps.data[inIndex] * gradient.data[g + f];
    });
    return out;
  }

  conv2dInputGradient(gradient: Matrix, shape: MapShape, filter: Matrix, kernel: number): Matrix {
    const { width, channels } = shape;
    const filters = filter.cols;
    const out = new Matrix(gradient.rows, shape.height * width * channels);
    forEachTap(gradient.rows, shape, kernel, (b, i, j, ki, kj, c, inIndex) => {
      const tap = (ki * kernel + kj) * channels + c;
      const g = b * gradient.cols + (i * width + j) * filters;
      for (let f = 0; f < filters; f++) out.data[inIndex] += gradient.data[g + f] * filter.at(tap, f);
    });
    return out;
  }

  mapChannelSums(maps: Matrix, shape: MapShape): Matrix {
    checkMaps(maps, shape);
    const out = new Matrix(1, shape.channels);
    for (let i = 0; i < maps.data.length; i++) out.data[i % shape.channels] += maps.data[i];
    return out;
  }

  maxPool(maps: Matrix, shape: MapShape, size: number): Matrix {
    return poolWindows(maps, shape, size).pooled;
  }

  maxPoolGradient(maps: Matrix, _pooled: Matrix, gradient: Matrix, shape: MapShape, size: number): Matrix {
    const out = new Matrix(maps.rows, maps.cols);
    poolWindows(maps, shape, size).argmax.forEach((from, to) => (out.data[from] = gradient.data[to]));
    return out;
  }

  globalAveragePool(maps: Matrix, shape: MapShape): Matrix {
    checkMaps(maps, shape);
    const positions = shape.height * shape.width;
    const out = new Matrix(maps.rows, shape.channels);
    for (let b = 0; b < maps.rows; b++) {
      for (let i = 0; i < maps.cols; i++) out.data[b * shape.channels + (i % shape.channels)] += maps.data[b * maps.cols + i] / positions;
    }
    return out;
  }

  globalAveragePoolGradient(gradient: Matrix, shape: MapShape): Matrix {
    const positions = shape.height * shape.width;
    const out = new Matrix(gradient.rows, mapSize(shape));
    for (let b = 0; b < gradient.rows; b++) {
      for (let i = 0; i < out.cols; i++) out.data[b * out.cols + i] = gradient.at(b, i % shape.channels) / positions;
    }
    return out;
  }
}

function checkMaps(maps: Matrix, shape: MapShape): void {
  if (maps.cols !== mapSize(shape)) throw new Error(`maps of ${maps.cols} values per row, expected ${shape.height}x${shape.width}x${shape.channels}`);
}

/**
 * Every (output position, kernel tap, input channel) of a stride-1 'same' convolution whose tap falls inside the
 * image, with the index of the input value in the maps.
 */
function forEachTap(
  batch: number,
  shape: MapShape,
  kernel: number,
  visit: (b: number, i: number, j: number, ki: number, kj: number, c: number, inIndex: number) => void,
): void {
  const { height, width, channels } = shape;
  const pad = (kernel - 1) / 2;
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < height; i++) {
      for (let j = 0; j < width; j++) {
        for (let ki = 0; ki < kernel; ki++) {
          const y = i + ki - pad;
          if (y < 0 || y >= height) continue;
          for (let kj = 0; kj < kernel; kj++) {
            const x = j + kj - pad;
            if (x < 0 || x >= width) continue;
            for (let c = 0; c < channels; c++) visit(b, i, j, ki, kj, c, b * height * width * channels + (y * width + x) * channels + c);
          }
        }
      }
    }
  }
}

function transpose(x: Matrix): Matrix {
  const out = new Matrix(x.cols, x.rows);
  for (let r = 0; r < x.rows; r++) for (let c = 0; c < x.cols; c++) out.data[c * x.rows + r] = x.at(r, c);
  return out;
}

/** The first maximum of every pooling window of every image and channel, and its index in `maps`. */
function poolWindows(maps: Matrix, shape: MapShape, size: number): { pooled: Matrix; argmax: Int32Array } {
  checkMaps(maps, shape);
  const { height, width, channels } = shape;
  const ph = Math.floor(height / size);
  const pw = Math.floor(width / size);
  const pooled = new Matrix(maps.rows, ph * pw * channels);
  pooled.data.fill(-Infinity);
  const argmax = new Int32Array(pooled.data.length);
  for (let b = 0; b < maps.rows; b++) {
    for (let i = 0; i < ph * size; i++) {
      for (let j = 0; j < pw * size; j++) {
        for (let c = 0; c < channels; c++) {
          const from = b * maps.cols + (i * width + j) * channels + c;
          const to = b * pooled.cols + (Math.floor(i / size) * pw + Math.floor(j / size)) * channels + c;
          if (maps.data[from] > pooled.data[to]) {
            pooled.data[to] = maps.data[from];
            argmax[to] = from;
          }
        }
      }
    }
  }
  return { pooled, argmax };
}
