/**
 * A small ONNX graph builder over the protobufjs message classes of `onnx-proto`: enough to write the HFF
 * inference graphs we export and the per-layer graphs of the onnx engine. Shapes use symbolic dimensions
 * (strings) or fixed sizes (numbers).
 */
import type { onnx as OnnxNamespace } from 'onnx-proto';
import { packageVersion } from '../package-info';

type Onnx = typeof OnnxNamespace;
let onnxModule: Onnx | undefined;

/** The generated message classes (loaded on first use). */
export function onnxProto(): Onnx {
  if (!onnxModule) onnxModule = (require('onnx-proto') as { onnx: Onnx }).onnx;
  return onnxModule;
}

export type Dim = number | string;
export type ElemType = 'float' | 'int64' | 'int32' | 'bool';

export const DEFAULT_OPSET = 13;
/** IR version 7 (ONNX 1.8) is the oldest that carries opset 13; older runtimes read it. */
const IR_VERSION_FOR_OPSET: Record<number, number> = { 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10 };

export type AttrValue = number | string | number[] | { float: number } | { ints: number[] } | { floats: number[] };

function elemTypeCode(type: ElemType): number {
  const t = onnxProto().TensorProto.DataType;
  switch (type) {
    case 'float':
      return t.FLOAT;
    case 'int64':
      return t.INT64;
    case 'int32':
      return t.INT32;
    case 'bool':
      return t.BOOL;
  }
}

function valueInfo(name: string, type: ElemType, shape: Dim[]): OnnxNamespace.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: elemTypeCode(type),
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, value: AttrValue): OnnxNamespace.IAttributeProto {
  const A = onnxProto().AttributeProto.AttributeType;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: use { float: x } for non-integers`);
    return { name, type: A.INT, i: value };
  }
  if (typeof value === 'string') return { name, type: A.STRING, s: Buffer.from(value, 'utf8') };
  if (Array.isArray(value)) return { name, type: A.INTS, ints: value };
  if ('float' in value) return { name, type: A.FLOAT, f: value.float };
  if ('ints' in value) return { name, type: A.INTS, ints: value.ints };
  return { name, type: A.FLOATS, floats: value.floats };
}

/** Accumulates nodes, inputs, outputs and initializers; `build` returns the encoded ModelProto. */
export class GraphBuilder {
  private readonly nodes: OnnxNamespace.INodeProto[] = [];
  private readonly inputs: OnnxNamespace.IValueInfoProto[] = [];
  private readonly outputs: OnnxNamespace.IValueInfoProto[] = [];
  private readonly initializers: OnnxNamespace.ITensorProto[] = [];
  private readonly constants = new Map<string, string>();
  private counter = 0;

  constructor(readonly name: string) {}

  input(name: string, type: ElemType, shape: Dim[]): string {
    this.inputs.push(valueInfo(name, type, shape));
    return name;
  }

  output(name: string, type: ElemType, shape: Dim[]): string {
    this.outputs.push(valueInfo(name, type, shape));
    return name;
  }

  /** A float32 initializer (stored as raw little-endian bytes). */
  floatTensor(name: string, dims: number[], data: Float32Array): string {
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.initializers.push({ name, dims, dataType: elemTypeCode('float'), rawData: Buffer.from(bytes) });
    return name;
  }

  /** An int8 initializer (quantized weights for the com.microsoft quantized matrix products). */
  int8Tensor(name: string, dims: number[], data: Int8Array): string {
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.initializers.push({ name, dims, dataType: onnxProto().TensorProto.DataType.INT8, rawData: Buffer.from(bytes) });
    return name;
  }

  int64Tensor(name: string, dims: number[], values: number[]): string {
    const data = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims, dataType: elemTypeCode('int64'), rawData: Buffer.from(data.buffer) });
    return name;
  }

  /** A shared scalar (or 1-D) float constant, deduplicated by value. */
  float(value: number | number[]): string {
    const key = `f:${JSON.stringify(value)}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `const_${this.counter++}`;
      const values = Array.isArray(value) ? value : [value];
      this.floatTensor(name, Array.isArray(value) ? [values.length] : [], Float32Array.from(values));
      this.constants.set(key, name);
    }
    return name;
  }

  /** A shared int64 1-D constant (axes, shapes), deduplicated by value. */
  ints(values: number[]): string {
    const key = `i:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `const_${this.counter++}`;
      this.int64Tensor(name, [values.length], values);
      this.constants.set(key, name);
    }
    return name;
  }

  /** Adds a node; returns its (first) output name, generated from `out` or the op type. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, out?: string, domain?: string): string {
    return this.opN(opType, inputs, 1, attrs, out ? [out] : undefined, domain)[0];
  }

  opN(opType: string, inputs: string[], outputs: number, attrs: Record<string, AttrValue> = {}, names?: string[], domain?: string): string[] {
    const outNames = names ?? Array.from({ length: outputs }, (_, i) => `${opType.toLowerCase()}_${this.counter}_${i}`);
    this.counter += 1;
    this.nodes.push({
      opType,
      input: inputs,
      output: outNames,
      name: `${opType}_${this.counter}`,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      ...(domain ? { domain } : {}),
    });
    return outNames;
  }

  /** Renames the value `from` to the graph output `to` with an Identity node. */
  alias(from: string, to: string): string {
    return this.op('Identity', [from], {}, to);
  }

  /**
   * Copies another model's graph into this one (a feature stage under exported layers): every node, initializer
   * and value gets `prefix` before its name, except the graph input `inputName`, which reads the value `from`
   * instead. Returns the new name of the value `outputName`. Graphs whose nodes hold subgraphs, or whose weights
   * live in external files, are refused.
   */
  importGraph(model: OnnxNamespace.IModelProto, prefix: string, inputName: string, from: string, outputName: string): string {
    const graph = model.graph;
    if (!graph) throw new Error('the ONNX model has no graph');
    const rename = (name: string | null | undefined): string => (!name ? '' : name === inputName ? from : prefix + name);
    const initializers = graph.initializer ?? [];
    const weights = new Set(initializers.map((t) => t.name));
    const other = (graph.input ?? []).filter((i) => i.name !== inputName && !weights.has(i.name));
    if (other.length > 0) throw new Error(`the ONNX graph has inputs besides ${inputName}: ${other.map((i) => i.name).join(', ')}`);
    for (const tensor of initializers) {
      if (tensor.dataLocation === onnxProto().TensorProto.DataLocation.EXTERNAL) throw new Error(`weight ${tensor.name} is stored in an external file`);
      this.initializers.push({ ...tensor, name: rename(tensor.name) });
    }
    for (const node of graph.node ?? []) {
      if ((node.attribute ?? []).some((a) => a.g || (a.graphs && a.graphs.length > 0))) {
        throw new Error(`node ${node.name ?? ''} (${node.opType ?? ''}) holds a subgraph, which cannot be merged`);
      }
      this.nodes.push({
        ...node,
        name: rename(node.name ?? `node_${this.counter++}`),
        input: (node.input ?? []).map(rename),
        output: (node.output ?? []).map(rename),
      });
    }
    return rename(outputName);
  }

  /**
   * Gives the value `from` the name `to` (a graph output's, say): the node computing it is renamed, with no copy;
   * a graph input or constant, which no node computes, gets an Identity node.
   */
  rename(from: string, to: string): string {
    const producer = this.nodes.find((node) => node.output?.includes(from));
    if (!producer?.output) return this.alias(from, to);
    producer.output = producer.output.map((name) => (name === from ? to : name));
    for (const node of this.nodes) node.input = node.input?.map((name) => (name === from ? to : name));
    return to;
  }

  /**
   * The nodes and initializers the outputs depend on: a definition may compute values only some graphs use (a
   * convolutional block's rows, when the block above takes its maps directly), and ORT would run them all.
   */
  private reachable(): { nodes: OnnxNamespace.INodeProto[]; initializers: OnnxNamespace.ITensorProto[] } {
    const needed = new Set(this.outputs.map((v) => v.name as string));
    const kept = new Set<OnnxNamespace.INodeProto>();
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const node = this.nodes[i];
      if (!(node.output ?? []).some((name) => needed.has(name))) continue;
      kept.add(node);
      for (const name of node.input ?? []) needed.add(name);
    }
    return { nodes: this.nodes.filter((node) => kept.has(node)), initializers: this.initializers.filter((t) => needed.has(t.name as string)) };
  }

  build(
    options: {
      opset?: number;
      producer?: string;
      docString?: string;
      metadata?: Record<string, string>;
      otherDomains?: { domain: string; version: number }[];
      /** Leave out the nodes and initializers that no output depends on. */
      prune?: boolean;
    } = {},
  ): Uint8Array {
    const o = onnxProto();
    const opset = options.opset ?? DEFAULT_OPSET;
    const { nodes, initializers } = options.prune ? this.reachable() : { nodes: this.nodes, initializers: this.initializers };
    const model = o.ModelProto.create({
      irVersion: IR_VERSION_FOR_OPSET[opset] ?? 8,
      opsetImport: [{ domain: '', version: opset }, ...(options.otherDomains ?? [])],
      producerName: options.producer ?? 'node-red-contrib-hff',
      producerVersion: packageVersion(),
      docString: options.docString ?? '',
      graph: {
        name: this.name,
        node: nodes,
        input: this.inputs,
        output: this.outputs,
        initializer: initializers,
      },
      metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    });
    return o.ModelProto.encode(model).finish();
  }
}
