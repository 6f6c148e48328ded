import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  elementCount,
  formatShape,
  MANIFEST_FILE,
  MODEL_FORMAT,
  ModelFiles,
  NamedTensor,
  shapeProblem,
  SUPPORTED_FORMAT_VERSIONS,
  TensorEntry,
  WEIGHTS_FILE_PATTERN,
  WeightsEntry,
} from './format';

const littleEndianHost = os.endianness() === 'LE';

/** A save by another process can replace the weights between our two reads; this many fresh attempts are made. */
const CONCURRENT_SAVE_ATTEMPTS = 3;

/** Largest model.json read (class names, metadata and tensor list; the numbers live in the weights file). */
export const MAX_MANIFEST_BYTES = 32 * 1024 * 1024;

/**
 * True when `dir` holds an entry named model.json (of any kind, so that a broken or hostile one is reported by
 * loadModelFiles instead of being taken for "no model yet" and replaced); says nothing about its validity.
 */
export function modelExists(dir: string): boolean {
  try {
    fs.lstatSync(path.join(dir, MANIFEST_FILE));
    return true;
  } catch {
    return false;
  }
}

// O_NOFOLLOW: a symbolic link is seen as such (and checked) rather than followed blindly; O_NONBLOCK: opening a
// FIFO returns at once instead of waiting for a writer (fstat then refuses it). Both are 0 where unsupported.
const OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0);

/** Opens `name` in `dir` for reading; a symbolic link is followed only when its target lies inside `dir`. */
async function openInside(dir: string, name: string, what: string): Promise<fs.promises.FileHandle> {
  const file = path.join(dir, name);
  try {
    return await fs.promises.open(file, OPEN_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ELOOP' && code !== 'EMLINK') throw error;
  }
  const [realDir, target] = await Promise.all([fs.promises.realpath(dir), fs.promises.realpath(file)]);
  const relative = path.relative(realDir, target);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new Error(`${what} ${file} is a symbolic link to ${target}, outside the model directory; model files must lie inside it`);
  }
  return fs.promises.open(target, OPEN_FLAGS);
}

/**
 * Reads a model file that must be a regular file inside `dir` of at most `maxBytes` (exactly `exactBytes` when
 * given). Devices, FIFOs, sockets and directories are refused before a byte is read, and never more than the
 * limit is read, so a link to /dev/zero or a growing file cannot take the memory.
 */
export async function readModelFile(dir: string, name: string, what: string, limit: { maxBytes: number; exactBytes?: number }): Promise<Buffer> {
  const file = path.join(dir, name);
  const handle = await openInside(dir, name, what);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new Error(`${what} ${file} is not a regular file (it is ${fileKind(stat)}); model files must be plain files`);
    if (limit.exactBytes !== undefined && stat.size !== limit.exactBytes) {
      throw new Error(
        stat.size < limit.exactBytes
          ? `${what} ${file} is truncated: it has ${stat.size} bytes but the manifest expects ${limit.exactBytes}`
          : `${what} ${file} has ${stat.size} bytes but the manifest expects ${limit.exactBytes}: it is corrupt or does not belong to this manifest`,
      );
    }
    if (stat.size > limit.maxBytes) throw new Error(`${what} ${file} has ${stat.size} bytes; at most ${limit.maxBytes} are read`);
    const bytes = Buffer.alloc(stat.size);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    if (filled !== bytes.length) throw new Error(`${what} ${file} shrank while it was read (${filled} of ${bytes.length} bytes)`);
    return bytes;
  } finally {
    await handle.close();
  }
}

function fileKind(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a plain file';
}

/**
 * Reads and fully validates a model directory. Either everything checks out and the caller gets its own copies
 * of every tensor, or an Error naming the offending file and the problem is thrown.
 */
export async function loadModelFiles(dir: string): Promise<ModelFiles> {
  const target = path.resolve(dir);
  const manifestPath = path.join(target, MANIFEST_FILE);
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`Model directory ${target} does not exist`);
    throw new Error(`Model directory ${target} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  if (!stat.isDirectory()) throw new Error(`Model directory ${target} is not a directory`);

  for (let attempt = 1; ; attempt++) {
    const manifestText = await readManifestText(target, manifestPath);
    try {
      return await loadFromManifest(target, manifestPath, manifestText);
    } catch (error) {
      const replaced = attempt < CONCURRENT_SAVE_ATTEMPTS && (await readManifestText(target, manifestPath).catch(() => manifestText)) !== manifestText;
      if (!replaced) throw error;
    }
  }
}

async function readManifestText(dir: string, manifestPath: string): Promise<string> {
  try {
    return (await readModelFile(dir, MANIFEST_FILE, 'Model manifest', { maxBytes: MAX_MANIFEST_BYTES })).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`Model manifest ${manifestPath} is missing: the directory does not contain a saved model`);
    }
    if (!(error as NodeJS.ErrnoException).code) throw error;
    throw new Error(`Model manifest ${manifestPath} cannot be read: ${(error as Error).message}`, { cause: error });
  }
}

async function loadFromManifest(dir: string, manifestPath: string, manifestText: string): Promise<ModelFiles> {
  const { manifest, weights, tensors } = parseManifest(manifestPath, manifestText);
  const weightsPath = path.join(dir, weights.file);

  let bytes: Buffer;
  try {
    bytes = await readModelFile(dir, weights.file, 'Weights file', { maxBytes: weights.bytes, exactBytes: weights.bytes });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`Weights file ${weightsPath} is missing (it is listed in ${manifestPath})`);
    }
    if (!(error as NodeJS.ErrnoException).code) throw error;
    throw new Error(`Weights file ${weightsPath} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== weights.sha256) {
    throw new Error(`Weights file ${weightsPath} is corrupt: its SHA-256 is ${actual} but ${manifestPath} records ${weights.sha256}`);
  }

  const out: Record<string, NamedTensor> = {};
  for (const entry of tensors) {
    const data = decodeFloat32(bytes, entry.offset, elementCount(entry.shape));
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        throw new Error(`Weights file ${weightsPath}: tensor "${entry.name}" contains a non-finite value (${data[i]}) at index ${i}`);
      }
    }
    out[entry.name] = { shape: [...entry.shape], data };
  }
  return { manifest, tensors: out };
}

/** Always copies, so the caller owns an aligned array independent of the read buffer. */
function decodeFloat32(bytes: Buffer, offset: number, count: number): Float32Array {
  if (littleEndianHost) {
    const start = bytes.byteOffset + offset;
    return new Float32Array(bytes.buffer.slice(start, start + 4 * count));
  }
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = bytes.readFloatLE(offset + 4 * i);
  return data;
}

interface ParsedManifest {
  manifest: Record<string, unknown>;
  weights: WeightsEntry;
  tensors: TensorEntry[];
}

function parseManifest(manifestPath: string, text: string): ParsedManifest {
  const fail = (problem: string): never => {
    throw new Error(`Model manifest ${manifestPath} ${problem}`);
  };
  let parsed: unknown;
  let forbiddenKey = false;
  try {
    // A "__proto__" key would become an object's prototype wherever the manifest is later copied or merged.
    parsed = JSON.parse(text, (key, value: unknown) => {
      if (key === '__proto__') forbiddenKey = true;
      return value;
    });
  } catch (error) {
    return fail(`is not valid JSON: ${(error as Error).message}`);
  }
  if (forbiddenKey) fail('has a "__proto__" key, which no model file has: it is refused as hostile');
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return fail('is not a JSON object');
  const manifest = parsed as Record<string, unknown>;

  if (manifest.format !== MODEL_FORMAT) {
    fail(`is not an HFF model: "format" is ${JSON.stringify(manifest.format) ?? 'missing'}, expected "${MODEL_FORMAT}"`);
  }
  const version = manifest.formatVersion;
  const supported = `supported: ${SUPPORTED_FORMAT_VERSIONS.join(', ')}`;
  if (typeof version !== 'number' || !Number.isInteger(version)) {
    fail(`has an invalid "formatVersion" ${JSON.stringify(version) ?? '(missing)'} (${supported})`);
  }
  const numericVersion = version as number;
  if (!SUPPORTED_FORMAT_VERSIONS.includes(numericVersion)) {
    const newest = Math.max(...SUPPORTED_FORMAT_VERSIONS);
    const why =
      numericVersion > newest
        ? 'which is newer than this version of node-red-contrib-hff can read; update the package'
        : 'which is older than this version of node-red-contrib-hff can read';
    fail(`has formatVersion ${numericVersion}, ${why} (${supported})`);
  }

  const weights = manifest.weights as Record<string, unknown> | undefined;
  if (typeof weights !== 'object' || weights === null || Array.isArray(weights)) fail('has no "weights" object');
  const w = weights as Record<string, unknown>;
  if (typeof w.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(w.sha256)) {
    fail('has an invalid "weights.sha256": expected 64 lowercase hex digits');
  }
  const sha256 = w.sha256 as string;
  const fileMatch = typeof w.file === 'string' ? WEIGHTS_FILE_PATTERN.exec(w.file) : null;
  if (fileMatch === null) {
    // Also what keeps a crafted manifest from pointing outside the model directory.
    fail(`has an invalid "weights.file" ${JSON.stringify(w.file) ?? '(missing)'}: expected a name like "weights-<sha256 prefix>.bin"`);
  }
  const file = w.file as string;
  if (!sha256.startsWith((fileMatch as RegExpExecArray)[1])) {
    fail(`names weights file "${file}" whose hash prefix does not match "weights.sha256" ${sha256}`);
  }
  if (typeof w.bytes !== 'number' || !Number.isSafeInteger(w.bytes) || w.bytes < 0) {
    fail(`has an invalid "weights.bytes" ${JSON.stringify(w.bytes) ?? '(missing)'}: expected a whole number of bytes`);
  }
  const totalBytes = w.bytes as number;

  if (!Array.isArray(manifest.tensors)) fail('has no "tensors" array');
  const seen = new Set<string>();
  const tensors: TensorEntry[] = [];
  (manifest.tensors as unknown[]).forEach((raw, index) => {
    if (typeof raw !== 'object' || raw === null) fail(`tensors[${index}] is not an object`);
    const t = raw as Record<string, unknown>;
    if (typeof t.name !== 'string' || t.name.length === 0) fail(`tensors[${index}] has no name`);
    const name = t.name as string;
    if (seen.has(name)) fail(`lists tensor "${name}" twice`);
    seen.add(name);
    const problem = shapeProblem(t.shape);
    if (problem !== undefined) fail(`tensor "${name}": ${problem}`);
    const shape = t.shape as number[];
    if (typeof t.offset !== 'number' || !Number.isSafeInteger(t.offset) || t.offset < 0 || t.offset % 4 !== 0) {
      fail(`tensor "${name}": offset ${JSON.stringify(t.offset) ?? '(missing)'} is not a non-negative multiple of 4 bytes`);
    }
    const offset = t.offset as number;
    const end = offset + 4 * elementCount(shape);
    if (end > totalBytes) {
      fail(`tensor "${name}": shape ${formatShape(shape)} at offset ${offset} needs bytes up to ${end} but the weights file has ${totalBytes} bytes`);
    }
    tensors.push({ name, shape, offset });
  });

  const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const before = byOffset[i - 1];
    const after = byOffset[i];
    const beforeEnd = before.offset + 4 * elementCount(before.shape);
    if (after.offset < beforeEnd) {
      fail(`tensor "${after.name}" (bytes ${after.offset}..) overlaps tensor "${before.name}" (bytes ${before.offset}..${beforeEnd})`);
    }
  }
  return { manifest, weights: { file, sha256, bytes: totalBytes }, tensors };
}
