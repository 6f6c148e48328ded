/**
 * LayerOps whose values are ONNX graph values: running a layer definition (src/engines/maths) with them adds its
 * nodes to a GraphBuilder, which is how the onnx engine's graphs and `hff export` are generated. Opset 13 forms
 * (ReduceSum takes axes as an input, ReduceMean/ReduceL2/ReduceLogSumExp as an attribute).
 */
import type { GraphBuilder } from '../../onnx/graph-builder';
import { type LayerOps, NORM_EPSILON } from '../maths/ops';

export class GraphOps implements LayerOps<string> {
  /** [rows, groups, size] reshapes already emitted, by `${value}:${size}`, so that a value is grouped once. */
  private readonly grouped = new Map<string, string>();

  constructor(readonly graph: GraphBuilder) {}

  /** Gives `value` the name `name` (of a graph output) without a copy. */
  name(value: string, name: string): string {
    return this.graph.rename(value, name);
  }

  affine(x: string, weight: string, bias: string): string {
    return this.graph.op('Gemm', [x, weight, bias]);
  }

  matMul(a: string, b: string, transposeA: boolean, transposeB: boolean): string {
    if (!transposeA && !transposeB) return this.graph.op('MatMul', [a, b]);
    return this.graph.op('Gemm', [a, b], { ...(transposeA ? { transA: 1 } : {}), ...(transposeB ? { transB: 1 } : {}) });
  }

  sub(a: string, b: string): string {
    return this.graph.op('Sub', [a, b]);
  }

  mul(a: string, b: string): string {
    return this.graph.op('Mul', [a, b]);
  }

  div(a: string, b: string): string {
    return this.graph.op('Div', [a, b]);
  }

  scalar(value: number): string {
    return this.graph.float(value);
  }

  relu(x: string): string {
    return this.graph.op('Relu', [x]);
  }

  leakyRelu(x: string, slope: number): string {
    return this.graph.op('LeakyRelu', [x], { alpha: { float: slope } });
  }

  tanh(x: string): string {
    return this.graph.op('Tanh', [x]);
  }

  positiveGate(output: string, gradient: string, negativeSlope: number): string {
    const elsewhere = negativeSlope === 0 ? this.graph.float(0) : this.mul(gradient, this.graph.float(negativeSlope));
    return this.graph.op('Where', [this.graph.op('Greater', [output, this.graph.float(0)]), gradient, elsewhere]);
  }

  rowSums(x: string): string {
    return this.graph.op('ReduceSum', [x, this.graph.ints([1])], { keepdims: 1 });
  }

  rowMeans(x: string): string {
    return this.graph.op('ReduceMean', [x], { axes: [1], keepdims: 1 });
  }

  columnSums(x: string): string {
    return this.graph.op('ReduceSum', [x, this.graph.ints([0])], { keepdims: 0 });
  }

  rowNorms(x: string): string {
    return this.graph.op('Max', [this.graph.op('ReduceL2', [x], { axes: [1], keepdims: 1 }), this.graph.float(NORM_EPSILON)]);
  }

  normalizeRows(x: string): string {
    return this.graph.op('LpNormalization', [x], { axis: 1, p: 2 });
  }

  softmax(x: string): string {
    return this.graph.op('Softmax', [x], { axis: 1 });
  }

  groupLogSumExp(x: string, size: number): string {
    return this.graph.op('ReduceLogSumExp', [this.groups(x, size)], { axes: [2], keepdims: 0 });
  }

  groupLogSumExpGradient(x: string, upstream: string, size: number): string {
    const weights = this.graph.op('Softmax', [this.groups(x, size)], { axis: 2 });
    const spread = this.graph.op('Mul', [this.graph.op('Unsqueeze', [upstream, this.graph.ints([2])]), weights]);
    return this.graph.op('Reshape', [spread, this.graph.ints([0, -1])]);
  }

  private groups(x: string, size: number): string {
    const key = `${x}:${size}`;
    let view = this.grouped.get(key);
    if (!view) {
      view = this.graph.op('Reshape', [x, this.graph.ints([0, -1, size])]);
      this.grouped.set(key, view);
    }
    return view;
  }
}
