import type { FleetDef } from '../shared/fleet-sync';
/** The hff-model dialog's fields turned into library options, with errors that name the field. */
import type { NodeDef } from 'node-red';
import * as path from 'node:path';
import { type LayerOption, parseLayerStack } from '../../src/hff/config';
import type { NetworkCreateOptions } from '../../src/hff/network';
import { isStageName, shippedStage } from '../../src/feature-stage/shipped';
import type { ModelSource } from './model-controller';
import { numberSetting } from '../shared/settings';

export interface HffModelDef extends NodeDef, FleetDef {
  source?: ModelSource;
  path?: string;
  backend?: string;
  inputSize?: string | number;
  inputShape?: string;
  centerInput?: boolean;
  featureStage?: string;
  featureMean?: string;
  featureStd?: string;
  featureLayout?: string;
  featureBgr?: boolean;
  featureOutput?: string;
  layers?: string;
  classes?: string;
  tau?: string | number;
  learningRate?: string | number;
  unknownThreshold?: string | number;
  seed?: string | number;
  saveDelay?: string | number;
}

/** A folder name from the node's name: letters, digits, dot, dash and underscore. */
export function folderName(name: string | undefined, id: string): string {
  const safe = (name ?? '')
    .trim()
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[-.]+|-+$/g, '');
  return safe || id.replace(/[^A-Za-z0-9._-]+/g, '-');
}

/** "0.485, 0.456, 0.406" -> numbers; empty -> undefined. */
function numberList(value: string | undefined, field: string): number[] | undefined {
  const text = String(value ?? '').trim();
  if (text === '') return undefined;
  const parts = text.split(/[\s,]+/).map((v) => Number(v));
  if (parts.some((v) => !Number.isFinite(v)))
    throw new Error(`${field} must be one number or one per channel, such as 0.485,0.456,0.406, got ${JSON.stringify(value)}`);
  return parts;
}

/**
 * The architecture fields of the dialog as library options; throws a message naming the bad field. A relative
 * feature stage path is taken from `baseDir` (Node-RED's user folder); a name (no folder, no .onnx) is a stage
 * shipped in the package, which brings its own image shape when the dialog gives none.
 */
export function architectureOf(def: HffModelDef, baseDir = process.cwd()): NetworkCreateOptions {
  const inputSize = numberSetting(def.inputSize, 'input size', { integer: true, min: 1 });
  if (inputSize === undefined) throw new Error('input size is required to create a model');
  const layersText = String(def.layers ?? '').trim();
  let layers: LayerOption[] | undefined;
  try {
    layers = layersText === '' ? undefined : parseLayerStack(layersText);
  } catch (err) {
    throw new Error(`layers ${JSON.stringify(def.layers)}: ${(err as Error).message}`);
  }
  // Explicit, so a flow's models do not change with the library's default for colour images.
  const options: NetworkCreateOptions = { inputSize, layers, centerInput: def.centerInput === true };
  const shapeText = String(def.inputShape ?? '').trim();
  if (shapeText !== '') {
    const parts = shapeText.split(/\s*[x×,]\s*/).map((v) => Number(v));
    if (parts.length !== 3 || parts.some((v) => !Number.isInteger(v) || v < 1)) {
      throw new Error(`image shape must be height x width x channels such as 28x28x1, got ${JSON.stringify(def.inputShape)}`);
    }
    options.inputShape = parts as [number, number, number];
  }
  const stageFile = String(def.featureStage ?? '').trim();
  if (stageFile !== '' && isStageName(stageFile)) {
    // A shipped stage: its own settings; the dialog hides the ones for a file of the user's.
    const stage = shippedStage(stageFile);
    options.featureStage = { file: stage.name, inputShape: options.inputShape ?? stage.inputShape };
  } else if (stageFile !== '') {
    if (!options.inputShape) throw new Error('a feature stage needs the image shape it takes (height x width x channels, such as 224x224x3)');
    const layout = String(def.featureLayout || 'nchw');
    if (layout !== 'nchw' && layout !== 'nhwc') throw new Error(`feature stage layout must be nchw or nhwc, got ${JSON.stringify(def.featureLayout)}`);
    const mean = numberList(def.featureMean, 'feature stage mean');
    const std = numberList(def.featureStd, 'feature stage std');
    const outputName = String(def.featureOutput ?? '').trim();
    options.featureStage = {
      file: path.resolve(baseDir, stageFile),
      inputShape: options.inputShape,
      layout,
      channelOrder: def.featureBgr === true ? 'bgr' : 'rgb',
      ...(mean ? { mean } : {}),
      ...(std ? { std } : {}),
      ...(outputName ? { outputName } : {}),
    };
  }
  const tau = numberSetting(def.tau, 'tau', { min: 0, aboveMin: true });
  if (tau !== undefined) options.tau = tau;
  const learningRate = numberSetting(def.learningRate, 'learning rate', { min: 0, aboveMin: true });
  if (learningRate !== undefined) options.optimizer = { learningRate };
  const threshold = numberSetting(def.unknownThreshold, 'unknown threshold', { min: -1, max: 1 });
  if (threshold !== undefined) options.unknownThreshold = threshold;
  const seed = numberSetting(def.seed, 'seed');
  if (seed !== undefined) options.seed = seed;
  return options;
}

export function classesOf(text: string | undefined): string[] {
  return String(text ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
}
