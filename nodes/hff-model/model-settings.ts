import type { FleetDef } from '../shared/fleet-sync';
/** The hff-model dialog's fields turned into library options, with errors that name the field. */
import type { NodeDef } from 'node-red';
import type { NetworkOptions } from '../../src/hff/config';
import type { ModelSource } from './model-controller';
import { numberSetting } from '../shared/settings';

export interface HffModelDef extends NodeDef, FleetDef {
  source?: ModelSource;
  path?: string;
  backend?: string;
  inputSize?: string | number;
  inputShape?: string;
  centerInput?: boolean;
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

/** The architecture fields of the dialog as library options; throws a message naming the bad field. */
export function architectureOf(def: HffModelDef): NetworkOptions {
  const inputSize = numberSetting(def.inputSize, 'input size', { integer: true, min: 1 });
  if (inputSize === undefined) throw new Error('input size is required to create a model');
  const layersText = String(def.layers ?? '').trim();
  const layers = layersText === '' ? undefined : layersText.split(/[\s,]+/).map((w) => Number(w));
  if (layers && layers.some((w) => !Number.isInteger(w) || w < 1)) {
    throw new Error(`layer widths must be comma-separated whole numbers such as 256,256, got ${JSON.stringify(def.layers)}`);
  }
  // Explicit, so a flow's models do not change with the library's default for colour images.
  const options: NetworkOptions = { inputSize, layers, centerInput: def.centerInput === true };
  const shapeText = String(def.inputShape ?? '').trim();
  if (shapeText !== '') {
    const parts = shapeText.split(/\s*[x×,]\s*/).map((v) => Number(v));
    if (parts.length !== 3 || parts.some((v) => !Number.isInteger(v) || v < 1)) {
      throw new Error(`image shape must be height x width x channels such as 28x28x1, got ${JSON.stringify(def.inputShape)}`);
    }
    options.inputShape = parts as [number, number, number];
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
