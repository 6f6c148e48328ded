/**
 * An HFF network in model files: the manifest's `kind`, `config`, `classes`, `counts`, `version`, `engine` and
 * `metadata` fields and each layer's `layers.<i>.weight`, `.bias` and `.prototypes` tensors. Classes created by
 * teaching add their own part (TaughtClasses.writeFiles and readFiles), which the network writes and reads beside
 * this one. Everything that reads a network's parameters from files (the network, the ONNX export) decodes here.
 */
import { type LayerParams, prototypeWidth, unknownLayerKind, weightRows } from '../engines/types';
import { assertClassNames } from '../hff/class-names';
import { type NetworkConfig, type NetworkOptions, layerSpec, resolveConfig } from '../hff/config';
import type { ModelFiles, NamedTensor } from './format';

/** The manifest's `kind` for an HFF network. */
export const MODEL_KIND = 'hff-network';

/** Everything the model files say about a network besides its taught classes. */
export interface NetworkModel {
  config: NetworkConfig;
  classes: string[];
  /** Training examples or demonstrations seen per class. */
  counts: number[];
  version: number;
  metadata: Record<string, unknown>;
  /** Per layer, bottom first. */
  params: LayerParams[];
}

/** Shapes of one layer's tensors, by part. */
function layerShapes(config: NetworkConfig, index: number, classCount: number): Record<keyof LayerParams, number[]> {
  const layer = config.stack[index];
  switch (layer.kind) {
    case 'dense':
    case 'conv2d': {
      // A block's weight is its [kernel, kernel, channels, filters] kernel as a matrix (src/engines/maths/ops.ts conv2d).
      const spec = layerSpec(config, index);
      const units = prototypeWidth(spec);
      return { weight: [weightRows(spec), units], bias: [units], prototypes: [classCount * config.prototypesPerClass, units] };
    }
    default:
      return unknownLayerKind(layer);
  }
}

/**
 * The config as model files store it: `layers` lists each layer's description ({"kind": "dense", "units": 1000});
 * files written before descriptions existed list widths there, which read as dense layers.
 */
export function storedConfig(config: NetworkConfig): Record<string, unknown> {
  const { stack, ...rest } = structuredClone(config);
  return { ...rest, layers: stack };
}

/**
 * Model files of a network, written by the engine named `engine`. A snapshot: config, classes, counts and metadata
 * are copied, so the caller may keep the files while the network goes on learning (stores, the model node's
 * baseline); the parameters are taken as given.
 */
export function encodeNetwork(model: NetworkModel, engine: string): ModelFiles {
  const tensors: Record<string, NamedTensor> = {};
  model.params.forEach((params, i) => {
    const shapes = layerShapes(model.config, i, model.classes.length);
    for (const part of ['weight', 'bias', 'prototypes'] as const) tensors[`layers.${i}.${part}`] = { shape: shapes[part], data: params[part] };
  });
  const manifest: Record<string, unknown> = {
    kind: MODEL_KIND,
    config: storedConfig(model.config),
    classes: [...model.classes],
    counts: [...model.counts],
    version: model.version,
    engine,
    metadata: structuredClone(model.metadata),
  };
  return { manifest, tensors };
}

/**
 * Reads and validates what encodeNetwork wrote (and older files: see the defaults below); `source` names the model
 * in errors. The parameters are the files' own arrays, not copies.
 */
export function decodeNetwork(files: ModelFiles, source = 'model'): NetworkModel {
  const m = files.manifest;
  if (m.kind !== MODEL_KIND) throw new Error(`${source}: not an HFF network (kind ${JSON.stringify(m.kind)})`);
  let config: NetworkConfig;
  try {
    // Files from before input centring existed were trained (and taught) without it.
    // Files from before layer descriptions list widths as `layers`: those are dense layers (resolveConfig).
    const stored = m.config as NetworkOptions;
    config = resolveConfig({ centerInput: false, ...stored, teaching: { transferCenterInput: false, ...stored?.teaching } });
  } catch (err) {
    throw new Error(`${source}: invalid architecture: ${(err as Error).message}`);
  }
  const classes = m.classes as string[];
  const counts = m.counts as number[];
  if (!Array.isArray(classes) || !Array.isArray(counts) || classes.length !== counts.length) {
    throw new Error(`${source}: classes and counts must be arrays of the same length`);
  }
  assertClassNames(classes);
  const badCount = counts.findIndex((c) => typeof c !== 'number' || !Number.isSafeInteger(c) || c < 0);
  if (badCount >= 0) throw new Error(`${source}: counts[${badCount}] is ${JSON.stringify(counts[badCount])}, expected a whole number of demonstrations >= 0`);
  const params = config.layers.map((_, i) => {
    const shapes = layerShapes(config, i, classes.length);
    const read = (part: keyof LayerParams): Float32Array => {
      const name = `layers.${i}.${part}`;
      const tensor = files.tensors[name];
      const shape = shapes[part];
      if (!tensor) throw new Error(`${source}: tensor ${name} is missing`);
      if (tensor.shape.length !== shape.length || tensor.shape.some((d, j) => d !== shape[j])) {
        throw new Error(`${source}: tensor ${name} has shape [${tensor.shape}] but the architecture needs [${shape}]`);
      }
      return tensor.data;
    };
    return { weight: read('weight'), bias: read('bias'), prototypes: read('prototypes') };
  });
  return {
    config,
    classes: [...classes],
    counts: [...counts],
    version: typeof m.version === 'number' ? m.version : 0,
    metadata: (m.metadata as Record<string, unknown>) ?? {},
    params,
  };
}

/**
 * The kept demonstrations per class that `taught.demos` gives (stored by TaughtClasses.writeFiles; undefined: the file
 * has no taught classes), checked against the number of classes.
 */
export function taughtDemoCounts(files: ModelFiles, classCount: number, source = 'model'): number[] | undefined {
  const taught = files.manifest.taught as { demos?: unknown } | undefined;
  if (!taught || !Array.isArray(taught.demos)) return undefined;
  const perClass = taught.demos as unknown[];
  if (perClass.length !== classCount || perClass.some((d) => !Number.isInteger(d) || (d as number) < 0)) {
    throw new Error(`${source}: taught.demos must give a count of kept demonstrations for each of the ${classCount} classes`);
  }
  return perClass as number[];
}

/** Names of the classes created by teaching (a class keeping demonstrations is a taught one), for readers that need no more of the teaching part (the export). */
export function taughtClassNames(files: ModelFiles, classes: readonly string[], source = 'model'): string[] {
  const perClass = taughtDemoCounts(files, classes.length, source) ?? [];
  return classes.filter((_, c) => perClass[c] > 0);
}
