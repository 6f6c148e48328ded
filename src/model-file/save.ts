import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  elementCount,
  formatShape,
  MANIFEST_FILE,
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  ModelFiles,
  RESERVED_MANIFEST_FIELDS,
  shapeProblem,
  TEMP_FILE_PATTERN,
  TensorEntry,
  WEIGHTS_FILE_PATTERN,
  weightsFileName,
} from './format';

/** Points of a save after which a crash is survivable; used by tests to interrupt a save at a chosen place. */
export type SaveStep = 'weights-temp-written' | 'weights-renamed' | 'manifest-temp-written' | 'manifest-renamed' | 'directory-synced' | 'cleaned-up';

export interface SaveHooks {
  /** Called after each step; throwing (or killing the process) here simulates a crash at that point. */
  afterStep?: (step: SaveStep) => void | Promise<void>;
}

/** A model checked and encoded in memory, ready to be written; holds its own copy of the weights. */
export interface PreparedModel {
  weights: Buffer;
  sha256: string;
  weightsFile: string;
  manifestText: string;
}

const littleEndianHost = os.endianness() === 'LE';

/**
 * Checks and encodes a model without touching the disk, so that a bad model never leaves a half-written
 * directory. `dir` is only used to name the target in error messages.
 */
export function prepareModelFiles(dir: string, files: ModelFiles): PreparedModel {
  const target = path.resolve(dir);
  const fail = (problem: string): never => {
    throw new Error(`Cannot save model to ${target}: ${problem}`);
  };
  if (typeof files !== 'object' || files === null) fail('expected an object with manifest and tensors');
  const { manifest, tensors } = files;
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) fail('manifest must be an object');
  if (typeof tensors !== 'object' || tensors === null || Array.isArray(tensors)) fail('tensors must be an object of named tensors');

  // Manifest order is insertion order of `tensors`, which is also the byte order in the weights file.
  const names = Object.keys(tensors);
  const entries: TensorEntry[] = [];
  let offset = 0;
  for (const name of names) {
    const tensor = tensors[name];
    if (name.length === 0) fail('a tensor has an empty name');
    if (typeof tensor !== 'object' || tensor === null) fail(`tensor "${name}" is not an object with shape and data`);
    const problem = shapeProblem(tensor.shape);
    if (problem !== undefined) fail(`tensor "${name}": ${problem}`);
    if (!(tensor.data instanceof Float32Array)) fail(`tensor "${name}": data must be a Float32Array`);
    const expected = elementCount(tensor.shape);
    if (tensor.data.length !== expected) {
      fail(`tensor "${name}" has shape ${formatShape(tensor.shape)} (${expected} values) but its data holds ${tensor.data.length} values`);
    }
    for (let i = 0; i < tensor.data.length; i++) {
      if (!Number.isFinite(tensor.data[i])) {
        fail(`tensor "${name}" contains a non-finite value (${tensor.data[i]}) at index ${i}; refusing to save a diverged model`);
      }
    }
    entries.push({ name, shape: [...tensor.shape], offset });
    offset += tensor.data.byteLength;
  }

  const weights = Buffer.alloc(offset);
  for (let t = 0; t < names.length; t++) {
    const data = tensors[names[t]].data;
    if (littleEndianHost) {
      Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(weights, entries[t].offset);
    } else {
      for (let i = 0; i < data.length; i++) weights.writeFloatLE(data[i], entries[t].offset + 4 * i);
    }
  }
  const sha256 = createHash('sha256').update(weights).digest('hex');
  const weightsFile = weightsFileName(sha256);

  const callerFields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(manifest)) {
    if (!RESERVED_MANIFEST_FIELDS.includes(key)) callerFields[key] = value;
  }
  const document = {
    format: MODEL_FORMAT,
    formatVersion: MODEL_FORMAT_VERSION,
    ...callerFields,
    weights: { file: weightsFile, sha256, bytes: weights.length },
    tensors: entries,
  };
  let manifestText: string;
  try {
    manifestText = `${JSON.stringify(document, rejectNonFinite, 2)}\n`;
  } catch (error) {
    return fail(`manifest cannot be written as JSON: ${(error as Error).message}`);
  }
  return { weights, sha256, weightsFile, manifestText };
}

/** JSON would silently turn NaN/Infinity into null, so the reloaded manifest would differ from the saved one. */
function rejectNonFinite(this: unknown, key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new Error(`field "${key}" is ${value}, which JSON cannot represent`);
  }
  return value;
}

/** Checks, encodes and atomically writes a model directory; see FORMAT.md for the crash-safety argument. */
export async function saveModelFiles(dir: string, files: ModelFiles, hooks: SaveHooks = {}): Promise<void> {
  const prepared = prepareModelFiles(dir, files);
  await writePreparedModel(dir, prepared, hooks);
}

/**
 * Writes a prepared model so that a crash at any point leaves either the previous or the new model loadable:
 * new weights under a new content-addressed name, then the manifest swapped in by rename, and only then the
 * old weights removed.
 */
export async function writePreparedModel(dir: string, prepared: PreparedModel, hooks: SaveHooks = {}): Promise<void> {
  const target = path.resolve(dir);
  const step = async (name: SaveStep): Promise<void> => {
    if (hooks.afterStep) await hooks.afterStep(name);
  };
  const temporaries: string[] = [];
  let current = target;
  try {
    const created = await fs.promises.mkdir(target, { recursive: true });
    if (created !== undefined) await syncDirectory(path.dirname(created));

    const weightsPath = path.join(target, prepared.weightsFile);
    const weightsTemp = temporaryPath(weightsPath);
    temporaries.push(weightsTemp);
    current = weightsTemp;
    await writeFileDurably(weightsTemp, prepared.weights);
    await step('weights-temp-written');
    current = weightsPath;
    await fs.promises.rename(weightsTemp, weightsPath);
    // The weights' directory entry must be durable before a manifest that points to it can be.
    await syncDirectory(target);
    await step('weights-renamed');

    const manifestPath = path.join(target, MANIFEST_FILE);
    const manifestTemp = temporaryPath(manifestPath);
    temporaries.push(manifestTemp);
    current = manifestTemp;
    await writeFileDurably(manifestTemp, Buffer.from(prepared.manifestText, 'utf8'));
    await step('manifest-temp-written');
    current = manifestPath;
    await fs.promises.rename(manifestTemp, manifestPath);
    await step('manifest-renamed');
    current = target;
    await syncDirectory(target);
    await step('directory-synced');
  } catch (error) {
    await Promise.all(temporaries.map((file) => fs.promises.rm(file, { force: true }).catch(() => undefined)));
    throw new Error(`Saving model to ${target} failed at ${current}: ${(error as Error).message}`, { cause: error });
  }
  await removeStaleFiles(target, prepared.weightsFile);
  await step('cleaned-up');
}

/** Deletes weights no longer referenced and temporaries of crashed saves; nothing else in the directory is touched. */
async function removeStaleFiles(dir: string, keepWeightsFile: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch {
    // The new model is already committed; stale files only cost disk space and the next save retries.
    return;
  }
  const stale = names.filter((name) => TEMP_FILE_PATTERN.test(name) || (WEIGHTS_FILE_PATTERN.test(name) && name !== keepWeightsFile));
  await Promise.all(stale.map((name) => fs.promises.rm(path.join(dir, name), { force: true }).catch(() => undefined)));
}

function temporaryPath(finalPath: string): string {
  const name = `.${path.basename(finalPath)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  return path.join(path.dirname(finalPath), name);
}

async function writeFileDurably(file: string, contents: Buffer): Promise<void> {
  const handle = await fs.promises.open(file, 'wx');
  try {
    await handle.writeFile(contents);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes renames and new entries in `dir` survive power loss; Windows cannot open directories, and does not need to. */
async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
