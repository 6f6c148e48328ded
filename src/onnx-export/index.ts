/**
 * `hff export`: a saved HFF model as a standard ONNX graph (opset 13 by default) of the single forward pass:
 * every layer's dense map (or convolutional block: convolution, pooling, and the average over positions its
 * prototypes are matched against), activation and normalisation, the cosine class scores and the argmax, with the class
 * names in the model's metadata. It uses only core ONNX operators, so any ONNX runtime (edge accelerators
 * included) can run it without this package.
 *
 * Graph interface:
 *   input      float32 [batch, inputSize]  the raw input vector (images in HWC order; the graph normalises it when the model does); with
 *                                          a feature stage, the image vector, which the stage's own nodes (copied in
 *                                          front of the layers) turn into features; a stage that cannot be merged
 *                                          (another opset) leaves the graph taking its output, with a warning
 *   scores     float32 [batch, classes]    per class, the cosine of its closest prototype (final layer; with
 *                                          'sum' scoring the mean over layers), the `score` of a prediction
 *   label      int64   [batch]             index of the predicted class in the metadata's `classes`
 *   embedding  float32 [batch, units]      the final layer's unit-length representation (optional)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cosines } from '../engines/maths/local-loss';
import { GraphOps } from '../engines/onnx/graph-ops';
import { constantLayerForward } from '../engines/onnx/graphs';
import { prototypeWidth } from '../engines/types';
import type { onnx as OnnxNamespace } from 'onnx-proto';
import { type FeatureStageConfig, readRecordedStage } from '../feature-stage/feature-stage';
import { type Scoring, layerSpec, stackInputSize } from '../hff/config';
import type { HffNetwork } from '../hff/network';
import { type NetworkModel, decodeNetwork, loadModelFiles, storedConfig, taughtClassNames } from '../model-file';
import { DEFAULT_OPSET, GraphBuilder, onnxProto } from '../onnx/graph-builder';

export interface ExportOptions {
  /** ONNX opset, 13 to 17 (default 13, the widest supported by edge runtimes). */
  opset?: number;
  /** Which scores decide: the model's own setting by default. */
  scoring?: Scoring;
  /** Also output the final layer's representation (default true). */
  embedding?: boolean;
}

export interface ExportSummary {
  path: string;
  bytes: number;
  opset: number;
  inputSize: number;
  inputShape?: [number, number, number];
  layers: number[];
  classes: string[];
  prototypesPerClass: number;
  scoring: Scoring;
  inputs: string[];
  outputs: string[];
  parameters: number;
  modelVersion: number;
  /** Classes created by teaching, which the graph ranks by plain cosine like trained ones (see `warnings`). */
  taughtClasses: string[];
  /** What the exported graph does differently from the library. */
  warnings: string[];
}

/**
 * Why an exported graph may decide differently from the library: the teaching rules (nearest demonstration in the
 * chosen representation, against the kept training inputs) are not part of the graph.
 */
export function exportWarnings(taughtClasses: readonly string[], unmergedStage?: { config: FeatureStageConfig; why: string }): string[] {
  const warnings: string[] = [];
  if (unmergedStage) {
    warnings.push(
      `the feature stage could not be made part of the graph (${unmergedStage.why}): the graph takes its output (${unmergedStage.config.outputSize} values), ` +
        `not images; run ${path.basename(unmergedStage.config.file)} first (its settings are in the metadata field hff_feature_stage)`,
    );
  }
  if (taughtClasses.length === 0) return warnings;
  return [
    ...warnings,
    `taught classes (${taughtClasses.join(', ')}) are scored by plain cosine in the ONNX graph: the library's teaching rules ` +
      '(nearest demonstration in the chosen representation, against the kept training inputs) are not exported, so labels can differ from hff-classify',
  ];
}

const MIN_OPSET = 13;
const MAX_OPSET = 17;

/** Per-class scores: the best of each class's prototypes (M > 1), from cos[batch, classes*M]. */
function classScores(g: GraphBuilder, cos: string, m: number): string {
  if (m === 1) return cos;
  return g.op('ReduceMax', [g.op('Reshape', [cos, g.ints([0, -1, m])])], { axes: [2], keepdims: 0 });
}

/** The ONNX model bytes of a network (exposed for tests and tools that hold a network in memory). */
export function networkToOnnx(network: HffNetwork, options: ExportOptions = {}): OnnxGraph {
  return modelToOnnx(decodeNetwork(network.toModelFiles(), 'network'), network.taughtClassNames(), options, undefined);
}

interface OnnxGraph {
  bytes: Uint8Array;
  opset: number;
  scoring: Scoring;
  outputs: string[];
  /** Why a model's feature stage is not part of the graph (then the graph takes the stage's output). */
  unmergedStage?: { config: FeatureStageConfig; why: string };
}

/** The default-domain opset a model imports. */
function opsetOf(model: OnnxNamespace.IModelProto): number {
  const entry = (model.opsetImport ?? []).find((o) => !o.domain);
  return Number(entry?.version ?? 0);
}

/**
 * Adds the feature stage in front of the layers: the graph's input is the package's image vector (HWC in [0,1]),
 * brought to the stage's layout, channel order and normalisation, then the stage's own nodes. Returns its output
 * as [batch, outputSize].
 */
function stageNodes(g: GraphBuilder, stage: FeatureStageConfig, stageModel: OnnxNamespace.IModelProto, input: string): string {
  const [h, w, c] = stage.inputShape;
  let x = g.op('Reshape', [input, g.ints([-1, h, w, c])]);
  if (stage.channelOrder === 'bgr' && c === 3) x = g.op('Gather', [x, g.ints([2, 1, 0])], { axis: 3 });
  x = g.op('Div', [g.op('Sub', [x, g.float(stage.mean)]), g.float(stage.std)]);
  if (stage.layout === 'nchw') x = g.op('Transpose', [x], { perm: [0, 3, 1, 2] });
  const features = g.importGraph(stageModel, 'feature_stage/', stage.inputName, x, stage.outputName);
  return g.op('Flatten', [features], { axis: 1 });
}

/** Why a stage cannot be merged at this opset, or undefined when it can. */
function mergeProblem(stageModel: OnnxNamespace.IModelProto, opset: number): string | undefined {
  const stageOpset = opsetOf(stageModel);
  if (stageOpset !== opset)
    return `it uses opset ${stageOpset}, the export ${opset}; export with --opset ${stageOpset} (13-17) or re-export the stage at opset ${opset}`;
  return undefined;
}

/** The ONNX model bytes of a decoded model whose classes `taughtClasses` were taught. */
function modelToOnnx(model: NetworkModel, taughtClasses: readonly string[], options: ExportOptions, stageFrom: string | undefined): OnnxGraph {
  const stage = model.config.featureStage;
  const stageModel = stage ? onnxProto().ModelProto.decode(readRecordedStage(stage, stageFrom).bytes) : undefined;
  // Without a requested opset, a stage's own opset (13-17) is the export's: ops change meaning between opsets.
  const stageOpset = stageModel ? opsetOf(stageModel) : undefined;
  const opset = options.opset ?? (stageOpset !== undefined && stageOpset >= 13 && stageOpset <= 17 ? stageOpset : DEFAULT_OPSET);
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new Error(`opset must be an integer from ${MIN_OPSET} to ${MAX_OPSET}, got ${opset}`);
  }
  const scoring = options.scoring ?? model.config.scoring;
  if (scoring !== 'final' && scoring !== 'sum') throw new Error(`scoring must be 'final' or 'sum', got ${JSON.stringify(scoring)}`);
  const classes = model.classes;
  if (classes.length === 0) throw new Error('the model has no classes yet: teach or train one before exporting');
  const config = model.config;
  const m = config.prototypesPerClass;
  const g = new GraphBuilder('hff_network');
  const ops = new GraphOps(g);
  let unmergedStage: OnnxGraph['unmergedStage'];
  let x: string;
  if (stage && stageModel) {
    const problem = mergeProblem(stageModel, opset);
    if (problem === undefined) {
      try {
        x = stageNodes(g, stage, stageModel, g.input('input', 'float', ['batch', config.inputSize]));
      } catch (err) {
        throw new Error(`the feature stage ${path.basename(stage.file)} cannot be exported with the layers: ${(err as Error).message}`);
      }
    } else {
      unmergedStage = { config: stage, why: problem };
      x = g.input('input', 'float', ['batch', stackInputSize(config)]);
    }
  } else {
    x = g.input('input', 'float', ['batch', config.inputSize]);
  }
  const perLayer: string[] = [];
  let z = '';
  model.params.forEach((params, i) => {
    const spec = layerSpec(config, i);
    let passed: string;
    ({ z, passed } = constantLayerForward(ops, i, spec, x, params.weight, params.bias));
    const p = g.floatTensor(`layers.${i}.prototypes`, [classes.length * m, prototypeWidth(spec)], params.prototypes);
    perLayer.push(classScores(g, cosines(ops, z, p), m));
    x = passed;
  });
  if (scoring === 'final' || perLayer.length === 1) {
    const final = perLayer[perLayer.length - 1];
    g.alias(final, 'scores');
    g.op('ArgMax', [final], { axis: 1, keepdims: 0 }, 'label');
  } else {
    // As HffNetwork.decide: rank by the sum over layers of log-softmax(score / tau); report the mean cosine.
    const invTau = g.float(1 / config.tau);
    const ranking = g.op(
      'Sum',
      perLayer.map((s) => g.op('LogSoftmax', [g.op('Mul', [s, invTau])], { axis: 1 })),
    );
    g.op('Mul', [g.op('Sum', perLayer), g.float(1 / perLayer.length)], {}, 'scores');
    g.op('ArgMax', [ranking], { axis: 1, keepdims: 0 }, 'label');
  }
  g.output('scores', 'float', ['batch', classes.length]);
  g.output('label', 'int64', ['batch']);
  const outputs = ['scores', 'label'];
  if (options.embedding ?? true) {
    g.alias(z, 'embedding');
    g.output('embedding', 'float', ['batch', config.layers[config.layers.length - 1]]);
    outputs.push('embedding');
  }
  const metadata: Record<string, string> = {
    classes: JSON.stringify(classes),
    hff_scoring: scoring,
    hff_input_size: String(config.inputSize),
    hff_layers: config.layers.join(','),
    hff_tau: String(config.tau),
    hff_unknown_threshold: String(config.unknownThreshold),
    hff_model_version: String(model.version),
    hff_config: JSON.stringify(storedConfig(config)),
  };
  if (config.inputShape && !unmergedStage) metadata.hff_input_shape = config.inputShape.join(',');
  if (stage) metadata.hff_feature_stage = JSON.stringify({ ...stage, file: path.basename(stage.file), merged: !unmergedStage });
  if (taughtClasses.length > 0) metadata.hff_taught_classes = JSON.stringify(taughtClasses);
  const otherDomains = (stageModel?.opsetImport ?? []).filter((o) => o.domain).map((o) => ({ domain: String(o.domain), version: Number(o.version) }));
  const bytes = g.build({
    // Scores of layers the decision does not read, and the rows of blocks whose maps go straight up, are not made.
    prune: true,
    opset,
    otherDomains,
    metadata,
    docString:
      'Hyperspherical Forward-Forward network (node-red-contrib-hff). input: float32 [batch, inputSize]. ' +
      'scores: per-class cosine similarity; label: predicted class index into metadata "classes" (JSON); ' +
      'embedding: final-layer unit representation.',
  });
  return { bytes, opset, scoring, outputs, unmergedStage };
}

/** Writes an ONNX file atomically (a temporary file renamed into place), making its folder; returns its absolute path. */
export async function writeOnnxFile(outPath: string, bytes: Uint8Array): Promise<string> {
  const target = path.resolve(outPath);
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  const temp = `${target}.tmp-${process.pid}-${Date.now()}`;
  try {
    await fs.promises.writeFile(temp, bytes);
    await fs.promises.rename(temp, target);
  } catch (err) {
    await fs.promises.rm(temp, { force: true });
    throw err;
  }
  return target;
}

/**
 * Writes `outPath` (atomically: a temporary file renamed into place) from the model directory `modelDir`.
 */
export async function exportOnnx(modelDir: string, outPath: string, options: ExportOptions = {}): Promise<ExportSummary> {
  const files = await loadModelFiles(modelDir);
  const model = decodeNetwork(files, modelDir);
  const taughtClasses = taughtClassNames(files, model.classes, modelDir);
  const { bytes, opset, scoring, outputs, unmergedStage } = modelToOnnx(model, taughtClasses, options, modelDir);
  const target = await writeOnnxFile(outPath, bytes);
  const c = model.config;
  const parameters = model.params.reduce((sum, p) => sum + p.weight.length + p.bias.length + p.prototypes.length, 0);
  return {
    path: target,
    bytes: bytes.byteLength,
    opset,
    inputSize: unmergedStage ? stackInputSize(c) : c.inputSize,
    ...(c.inputShape && !unmergedStage ? { inputShape: c.inputShape } : {}),
    layers: [...c.layers],
    classes: [...model.classes],
    prototypesPerClass: c.prototypesPerClass,
    scoring,
    inputs: ['input'],
    outputs,
    parameters,
    modelVersion: model.version,
    taughtClasses,
    warnings: exportWarnings(taughtClasses, unmergedStage),
  };
}
