/**
 * `hff export-stage`: the convolutional blocks of a saved HFF model as a feature stage (image -> vector), an ONNX
 * graph that any model can then run before its own layers (src/feature-stage). It takes images the way a stage's
 * default settings give them: float32 [batch, channels, height, width] (NCHW), RGB, values in [0,1], no mean or
 * std, so `--feature-stage FILE` needs no other option. The network's conv blocks take the images as they are (they
 * do not centre or normalise them), and so does the graph: it turns NCHW into the engines' HWC rows and runs
 * the same block definition (src/engines/maths/conv2d.ts) through the same GraphOps as `hff export`.
 *
 * The vector (output `features`) is either the top block's globally pooled unit vector (`last`, `filters` values)
 * or every block's globally pooled unit vector side by side (`blocks`, the sum of the filters), scaled by
 * 1/sqrt(blocks) so that the whole vector is unit length too. Dense layers of the model are left out.
 */
import { conv2dForward } from '../engines/maths/conv2d';
import { GraphOps } from '../engines/onnx/graph-ops';
import { isConv2dSpec, prototypeWidth, weightRows } from '../engines/types';
import { layerSpec } from '../hff/config';
import { type NetworkModel, decodeNetwork, loadModelFiles } from '../model-file';
import { DEFAULT_OPSET, GraphBuilder } from '../onnx/graph-builder';
import { writeOnnxFile } from './index';

export const STAGE_VECTORS = ['last', 'blocks'] as const;
export type StageVector = (typeof STAGE_VECTORS)[number];

/** The graph's input and output names (a stage's defaults read the first of each anyway). */
export const STAGE_INPUT = 'image';
export const STAGE_OUTPUT = 'features';

export interface StageExportSummary {
  path: string;
  bytes: number;
  /** Height, width, channels of the images the stage takes. */
  inputShape: [number, number, number];
  vector: StageVector;
  outputSize: number;
  /** The conv blocks exported, as `c<filters>k<kernel>p<pool>`. */
  blocks: string[];
  /** The classes the blocks were trained on (what the stage has seen). */
  trainedOn: string[];
}

/** The conv blocks at the bottom of a model (a stage needs at least one, on images). */
function convBlockCount(model: NetworkModel, source: string): number {
  const config = model.config;
  if (config.featureStage) throw new Error(`${source} runs a feature stage of its own; only a model whose conv blocks take the images can be exported as one`);
  let count = 0;
  while (count < config.stack.length && config.stack[count].kind === 'conv2d') count += 1;
  if (count === 0)
    throw new Error(`${source} has no convolutional blocks (its layers: ${config.layers.join(',')}); train one with --layers c32k3p2,c64k3p2,...`);
  return count;
}

/** The stage's ONNX bytes, input shape and output width for a decoded model. */
export function featureStageToOnnx(
  model: NetworkModel,
  vector: StageVector,
  source = 'the model',
): { bytes: Uint8Array; inputShape: [number, number, number]; outputSize: number; blocks: string[] } {
  if (!STAGE_VECTORS.includes(vector)) throw new Error(`stage vector must be one of ${STAGE_VECTORS.join(', ')}, got ${JSON.stringify(vector)}`);
  const count = convBlockCount(model, source);
  const config = model.config;
  const shape = config.inputShape;
  if (!shape) throw new Error(`${source} has no image shape`);
  const [h, w, c] = shape;
  const g = new GraphBuilder('hff_feature_stage');
  const ops = new GraphOps(g);
  const image = g.input(STAGE_INPUT, 'float', ['batch', c, h, w]);
  let x = g.op('Reshape', [g.op('Transpose', [image], { perm: [0, 2, 3, 1] }), g.ints([-1, h * w * c])]);
  const pooledUnits: string[] = [];
  const blocks: string[] = [];
  for (let i = 0; i < count; i++) {
    const spec = layerSpec(config, i);
    if (!isConv2dSpec(spec)) throw new Error(`internal: layer ${i} of ${source} is not a conv block`);
    const params = model.params[i];
    const weight = g.floatTensor(`blocks.${i}.weight`, [weightRows(spec), prototypeWidth(spec)], params.weight);
    const bias = g.floatTensor(`blocks.${i}.bias`, [prototypeWidth(spec)], params.bias);
    const f = conv2dForward(ops, spec, x, weight, bias);
    pooledUnits.push(f.z);
    blocks.push(`c${spec.filters}k${spec.kernel}p${spec.pool}`);
    x = f.output;
  }
  let outputSize: number;
  if (vector === 'last') {
    g.alias(pooledUnits[count - 1], STAGE_OUTPUT);
    outputSize = prototypeWidth(layerSpec(config, count - 1));
  } else {
    g.op('Mul', [g.op('Concat', pooledUnits, { axis: 1 }), g.float(1 / Math.sqrt(count))], {}, STAGE_OUTPUT);
    outputSize = Array.from({ length: count }, (_, i) => prototypeWidth(layerSpec(config, i))).reduce((a, b) => a + b, 0);
  }
  g.output(STAGE_OUTPUT, 'float', ['batch', outputSize]);
  const bytes = g.build({
    opset: DEFAULT_OPSET,
    metadata: {
      hff_stage_vector: vector,
      hff_stage_blocks: blocks.join(','),
      hff_stage_trained_on: JSON.stringify(model.classes),
      hff_input_shape: shape.join(','),
    },
    docString:
      `Feature stage from the convolutional HFF blocks ${blocks.join(',')} (node-red-contrib-hff). input: float32 [batch, ${c}, ${h}, ${w}], ${c === 3 ? 'RGB' : 'grey'} in [0,1]. ` +
      `features: float32 [batch, ${outputSize}], ${vector === 'last' ? 'the top block' : 'every block'}'s globally pooled unit vector.`,
  });
  return { bytes, inputShape: [h, w, c], outputSize, blocks };
}

/** Writes `outPath` (atomically) from the model directory `modelDir`. */
export async function exportFeatureStage(modelDir: string, outPath: string, vector: StageVector): Promise<StageExportSummary> {
  const model = decodeNetwork(await loadModelFiles(modelDir), modelDir);
  const { bytes, inputShape, outputSize, blocks } = featureStageToOnnx(model, vector, modelDir);
  const target = await writeOnnxFile(outPath, bytes);
  return { path: target, bytes: bytes.byteLength, inputShape, vector, outputSize, blocks, trainedOn: [...model.classes] };
}
