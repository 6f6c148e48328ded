/**
 * A feature stage: an image-to-vector network given as an ONNX file (a pretrained backbone exported by the user),
 * run by onnxruntime-node before the HFF layers. The stage is frozen; the HFF layers, the classifier and the taught
 * classes work on its output. A model records the file by its SHA-256, so a different file is refused.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SyncSession, floatTensor, onnxLoadError } from '../engines/onnx/runtime';
import { describe } from '../describe';
import { isStageName, shippedStage, shippedStagePath, shippedStageWithChecksum } from './shipped';

export type FeatureLayout = 'nchw' | 'nhwc';
export type ChannelOrder = 'rgb' | 'bgr';

/** What a model file stores about its feature stage. */
export interface FeatureStageConfig {
  /** Absolute path of the ONNX file when the model was made; a copy beside the model's files is found too. */
  file: string;
  sha256: string;
  /** Height, width, channels of the images the stage takes (the network's inputShape). */
  inputShape: [number, number, number];
  layout: FeatureLayout;
  channelOrder: ChannelOrder;
  /** Per channel (in the stage's channel order), applied to pixel values in [0,1]: (value - mean) / std. */
  mean: number[];
  std: number[];
  inputName: string;
  outputName: string;
  /** Width of the stage's output vector (every dimension after the batch, multiplied). */
  outputSize: number;
}

/** A feature stage as a user gives it; what is left out is read from the file or defaults. */
export interface FeatureStageOptions {
  /** The path of an ONNX file, or the name of a stage shipped in the package (src/feature-stage/shipped.ts). */
  file: string;
  inputShape: [number, number, number];
  layout?: FeatureLayout;
  channelOrder?: ChannelOrder;
  mean?: number[];
  std?: number[];
  /** Default: the graph's first input. */
  inputName?: string;
  /** Default: the graph's first output. */
  outputName?: string;
}

export interface OpenOptions {
  /** A folder to look in for the file by name when it is not at its recorded path (the model's folder). */
  directory?: string;
  /** ORT intra-op threads (see resolveThreads). */
  threads?: number;
}

export function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function checkChannelValues(name: string, value: unknown, channels: number, fallback: number): number[] {
  if (value === undefined) return Array.from({ length: channels }, () => fallback);
  const list = Array.isArray(value) ? value : [value];
  if ((list.length !== 1 && list.length !== channels) || list.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw new Error(`feature stage ${name} must be one number or ${channels} numbers (one per channel), got ${describe(value)}`);
  }
  const numbers = list as number[];
  return numbers.length === 1 ? Array.from({ length: channels }, () => numbers[0]) : [...numbers];
}

/** Checks the settings of a stage, from options or a model file; the file itself is checked when opened. */
export function checkFeatureStageSettings(
  value: unknown,
  who = 'feature stage',
): Omit<FeatureStageConfig, 'sha256' | 'outputSize' | 'inputName' | 'outputName'> & Partial<FeatureStageConfig> {
  if (value === null || typeof value !== 'object') throw new Error(`${who} must be an object with file and inputShape, got ${describe(value)}`);
  const o = value as Partial<FeatureStageConfig>;
  if (typeof o.file !== 'string' || o.file.trim() === '') throw new Error(`${who}.file must be the path of an ONNX file, got ${describe(o.file)}`);
  const shape = o.inputShape;
  if (!Array.isArray(shape) || shape.length !== 3 || shape.some((d) => !Number.isInteger(d) || d < 1) || (shape[2] !== 1 && shape[2] !== 3)) {
    throw new Error(`${who}.inputShape must be [height, width, channels] with 1 or 3 channels, got ${describe(shape)}`);
  }
  const layout = o.layout ?? 'nchw';
  if (layout !== 'nchw' && layout !== 'nhwc') throw new Error(`${who}.layout must be 'nchw' or 'nhwc', got ${describe(layout)}`);
  const channelOrder = o.channelOrder ?? 'rgb';
  if (channelOrder !== 'rgb' && channelOrder !== 'bgr') throw new Error(`${who}.channelOrder must be 'rgb' or 'bgr', got ${describe(channelOrder)}`);
  const channels = shape[2];
  const mean = checkChannelValues('mean', o.mean, channels, 0);
  const std = checkChannelValues('std', o.std, channels, 1);
  if (std.some((s) => s <= 0)) throw new Error(`${who}.std must be above 0, got ${describe(o.std)}`);
  for (const key of ['sha256', 'inputName', 'outputName'] as const) {
    if (o[key] !== undefined && (typeof o[key] !== 'string' || o[key] === ''))
      throw new Error(`${who}.${key} must be a non-empty string, got ${describe(o[key])}`);
  }
  if (o.outputSize !== undefined && (!Number.isInteger(o.outputSize) || o.outputSize < 1)) {
    throw new Error(`${who}.outputSize must be a positive integer, got ${describe(o.outputSize)}`);
  }
  return { ...o, file: o.file, inputShape: [shape[0], shape[1], shape[2]], layout, channelOrder, mean, std };
}

/**
 * The file's bytes: at its path, else (with `directory`) by its name in that folder, else (with `shipped`) the
 * package's own copy of a shipped stage (a model made in another installation of the package).
 */
function readStageFile(file: string, directory: string | undefined, shipped?: string): { bytes: Uint8Array; found: string } {
  const places = [file];
  if (directory) places.push(path.join(directory, path.basename(file)));
  if (shipped) places.push(shipped);
  for (const place of places) {
    if (fs.existsSync(place)) return { bytes: fs.readFileSync(place), found: place };
  }
  throw new Error(`feature stage ONNX file not found: looked for ${places.join(' and ')}`);
}

/** The bytes of the file a model records (see FeatureStage.open for where it is looked for); a different file is refused. */
export function readRecordedStage(config: Pick<FeatureStageConfig, 'file' | 'sha256'>, directory?: string): { bytes: Uint8Array; found: string } {
  const shipped = shippedStageWithChecksum(config.sha256);
  const { bytes, found } = readStageFile(config.file, directory, shipped && shippedStagePath(shipped));
  const sha256 = sha256Of(bytes);
  if (sha256 !== config.sha256) {
    throw new Error(
      `feature stage ${found} is not the file this model was made with: its SHA-256 is ${sha256.slice(0, 16)}..., the model records ${config.sha256.slice(0, 16)}...`,
    );
  }
  return { bytes, found };
}

/** A shipped stage's file, checked against its recorded checksum and the image shape asked for. */
function readShippedStage(name: string, inputShape: readonly number[]): { bytes: Uint8Array; found: string } {
  const stage = shippedStage(name);
  if (inputShape.join('x') !== stage.inputShape.join('x')) {
    throw new Error(`the shipped feature stage ${name} takes ${stage.inputShape.join('x')} images (height x width x channels), got ${inputShape.join('x')}`);
  }
  const file = shippedStagePath(stage);
  const { bytes, found } = readStageFile(file, undefined);
  const sha256 = sha256Of(bytes);
  if (sha256 !== stage.sha256) {
    throw new Error(
      `the shipped feature stage ${found} is damaged or replaced: its SHA-256 is ${sha256.slice(0, 16)}..., the package records ${stage.sha256.slice(0, 16)}...`,
    );
  }
  return { bytes, found };
}

/** An opened feature stage: runs batches of images (HWC values in [0,1], the package's image vectors) to vectors. */
export class FeatureStage {
  readonly config: FeatureStageConfig;
  /** Where the file was found. */
  readonly path: string;
  private readonly session: SyncSession;
  /** Some exported graphs fix the batch at 1: then rows are run one at a time. */
  private readonly oneRowAtATime: boolean;

  private constructor(config: FeatureStageConfig, found: string, session: SyncSession, oneRowAtATime: boolean) {
    this.config = config;
    this.path = found;
    this.session = session;
    this.oneRowAtATime = oneRowAtATime;
  }

  /**
   * Opens a stage from options (a new model: the file's checksum and output size are read) or from a model file's
   * config (the checksum must match; a different file is refused).
   */
  static open(settings: FeatureStageOptions | FeatureStageConfig, options: OpenOptions = {}): FeatureStage {
    const checked = checkFeatureStageSettings(settings);
    const recorded = 'sha256' in settings ? settings.sha256 : undefined;
    const { bytes, found } = recorded
      ? readRecordedStage({ file: checked.file, sha256: recorded }, options.directory)
      : isStageName(checked.file)
        ? readShippedStage(checked.file, checked.inputShape)
        : readStageFile(path.resolve(checked.file), options.directory);
    const sha256 = recorded ?? sha256Of(bytes);
    const unavailable = onnxLoadError();
    if (unavailable) throw new Error(`a feature stage needs onnxruntime-node, which is not available (${unavailable})`);
    let session: SyncSession;
    try {
      session = new SyncSession(bytes, { threads: options.threads });
    } catch (err) {
      throw new Error(`feature stage ${found} is not a usable ONNX model: ${(err as Error).message.split('\n')[0]}`);
    }
    try {
      const inputName = checked.inputName ?? session.inputNames[0];
      const outputName = checked.outputName ?? session.outputNames[0];
      if (!session.inputNames.includes(inputName)) {
        throw new Error(`feature stage ${found} has no input ${JSON.stringify(inputName)} (its inputs: ${session.inputNames.join(', ')})`);
      }
      if (!session.outputNames.includes(outputName)) {
        throw new Error(`feature stage ${found} has no output ${JSON.stringify(outputName)} (its outputs: ${session.outputNames.join(', ')})`);
      }
      const [h, w, c] = checked.inputShape;
      const settings = { ...checked, inputName, outputName };
      const oneRow = runRows(session, settings, found, new Float32Array(h * w * c).fill(0.5), 1);
      if (checked.outputSize !== undefined && oneRow.dims !== checked.outputSize) {
        throw new Error(`feature stage ${found} gives ${oneRow.dims} values per image, the model records ${checked.outputSize}`);
      }
      const config: FeatureStageConfig = { ...settings, file: recorded ? checked.file : path.resolve(found), sha256, outputSize: oneRow.dims };
      let oneRowAtATime = false;
      try {
        runRows(session, settings, found, new Float32Array(2 * h * w * c).fill(0.5), 2);
      } catch {
        oneRowAtATime = true;
      }
      return new FeatureStage(config, found, session, oneRowAtATime);
    } catch (err) {
      session.dispose();
      throw err;
    }
  }

  /** batch x outputSize feature vectors of batch images (each H*W*C values, HWC, in [0,1]). */
  run(x: Float32Array, batch: number): Float32Array {
    const [h, w, c] = this.config.inputShape;
    const size = h * w * c;
    if (x.length < batch * size) throw new Error(`feature stage: expected ${batch} image(s) of ${h}x${w}x${c} values, got ${x.length} values`);
    if (!this.oneRowAtATime) return this.checkedOutput(runRows(this.session, this.config, this.path, x, batch).data, batch);
    const out = new Float32Array(batch * this.config.outputSize);
    for (let b = 0; b < batch; b++)
      out.set(runRows(this.session, this.config, this.path, x.subarray(b * size, (b + 1) * size), 1).data, b * this.config.outputSize);
    return this.checkedOutput(out, batch);
  }

  dispose(): void {
    this.session.dispose();
  }

  private checkedOutput(out: Float32Array, batch: number): Float32Array {
    for (let i = 0; i < out.length; i++) {
      if (!Number.isFinite(out[i]))
        throw new Error(`feature stage ${this.path} gave a non-finite value for image ${Math.floor(i / this.config.outputSize) + 1} of ${batch}`);
    }
    return out;
  }
}

type RunSettings = Pick<FeatureStageConfig, 'inputShape' | 'layout' | 'channelOrder' | 'mean' | 'std' | 'inputName' | 'outputName'>;

/** One run of the stage's graph on batch images (HWC in [0,1]): the output values and their number per image. */
function runRows(session: SyncSession, settings: RunSettings, file: string, x: Float32Array, batch: number): { data: Float32Array; dims: number } {
  const { inputShape, layout, channelOrder, mean, std, inputName, outputName } = settings;
  const [h, w, c] = inputShape;
  const plane = h * w;
  const input = new Float32Array(batch * plane * c);
  for (let b = 0; b < batch; b++) {
    const src = b * plane * c;
    for (let p = 0; p < plane; p++) {
      for (let ch = 0; ch < c; ch++) {
        // The package's images are RGB; a BGR stage takes the channels reversed.
        const from = channelOrder === 'bgr' ? c - 1 - ch : ch;
        const value = (x[src + p * c + from] - mean[ch]) / std[ch];
        input[layout === 'nchw' ? src + ch * plane + p : src + p * c + ch] = value;
      }
    }
  }
  const dims = layout === 'nchw' ? [batch, c, h, w] : [batch, h, w, c];
  let result;
  try {
    result = session.run({ [inputName]: floatTensor(input, dims) }, { [outputName]: null })[outputName];
  } catch (err) {
    throw new Error(`feature stage ${file} failed on input [${dims.join(', ')}]: ${(err as Error).message.split('\n')[0]}`);
  }
  if (result.type !== 'float32') throw new Error(`feature stage ${file}: output ${outputName} is ${result.type}, expected float32`);
  if (result.dims[0] !== batch)
    throw new Error(`feature stage ${file}: output ${outputName} has shape [${result.dims.join(', ')}], expected the batch (${batch}) first`);
  const data = result.data as Float32Array;
  return { data, dims: data.length / batch };
}
