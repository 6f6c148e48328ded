/**
 * Loading onnxruntime-node (an optional dependency) and running sessions synchronously.
 *
 * onnxruntime-node's public `InferenceSession.run` is async only because it defers the native call with
 * setImmediate; the native binding's `loadModel` and `run` themselves are synchronous and run on the calling
 * thread (with ORT's own intra-op pool). We call the binding directly so that the engine keeps the synchronous
 * EngineLayer interface that the rest of the package (network, nodes, CLI) is written against, and so that the
 * inputs and preallocated outputs are plain Float32Arrays read and written in place, without copies. The binding
 * is checked when loaded; if a future onnxruntime-node changes it, the engine reports itself unavailable (and
 * automatic selection falls back to tfjs) instead of misbehaving.
 */
import * as os from 'node:os';

export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

export type TensorCtor = new (
  type: 'float32' | 'int64' | 'int32' | 'bool',
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array,
  dims: readonly number[],
) => OrtTensor;

/**
 * The native session of onnxruntime-node. 1.16 (the pinned version: the last whose install downloads nothing) names
 * its inputs and outputs in inputNames/outputNames and frees itself when collected; later versions list metadata
 * objects and have dispose().
 */
interface NativeSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, OrtTensor | null>, options: object): Record<string, OrtTensor>;
  dispose?(): void;
  readonly inputNames?: string[];
  readonly outputNames?: string[];
  readonly inputMetadata?: { name: string }[];
  readonly outputMetadata?: { name: string }[];
}

interface Runtime {
  Tensor: TensorCtor;
  Session: new () => NativeSession;
  version: string;
  /**
   * Whether sessions take ORT's config entries (from 1.17). 1.16 cannot turn off the spinning of idle intra-op
   * threads, which then burn the cores other work needs (2.5x the CPU time per training step measured here), so
   * on it the engine defaults to one thread.
   */
  configEntries: boolean;
}

let runtime: Runtime | undefined;
let loadError: string | undefined;
let tried = false;

/** Loads onnxruntime-node once; undefined (see `onnxLoadError`) when it is missing or unusable. */
export function loadOnnxRuntime(): Runtime | undefined {
  if (tried) return runtime;
  tried = true;
  if (process.env.HFF_NO_ONNX) {
    loadError = 'disabled by $HFF_NO_ONNX';
    return undefined;
  }
  try {
    const pkg = require('onnxruntime-node/package.json') as { version: string };
    const common = require('onnxruntime-node') as { Tensor: TensorCtor };
    const b = require('onnxruntime-node/dist/binding') as { binding: { InferenceSession: new () => NativeSession }; initOrt?: () => void };
    if (typeof b.binding?.InferenceSession !== 'function') {
      throw new Error(`onnxruntime-node ${pkg.version}: unexpected native binding layout`);
    }
    const proto = b.binding.InferenceSession.prototype as Partial<NativeSession>;
    if (typeof proto.loadModel !== 'function' || typeof proto.run !== 'function') {
      throw new Error(`onnxruntime-node ${pkg.version}: the native session has no synchronous loadModel/run`);
    }
    // Versions after 1.16 set up the ORT environment lazily through initOrt; 1.16 does it when the binding loads.
    b.initOrt?.();
    runtime = { Tensor: common.Tensor, Session: b.binding.InferenceSession, version: pkg.version, configEntries: typeof b.initOrt === 'function' };
  } catch (err) {
    loadError = (err as Error).message.split('\n')[0];
  }
  return runtime;
}

export function onnxLoadError(): string | undefined {
  loadOnnxRuntime();
  return loadError;
}

export interface OnnxSessionOptions {
  /** ORT intra-op threads; default $HFF_ONNX_THREADS, else min(2, available cores) (1 on onnxruntime-node 1.16). */
  threads?: number;
  /** Let idle intra-op threads spin (lower latency, burns CPU other processes could use); default off. */
  spinning?: boolean;
}

export function resolveThreads(threads?: number): number {
  const fromEnv = process.env.HFF_ONNX_THREADS ? Number(process.env.HFF_ONNX_THREADS) : undefined;
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const value = threads ?? fromEnv ?? (loadOnnxRuntime()?.configEntries === false ? 1 : Math.min(2, cores));
  if (!Number.isInteger(value) || value < 1) throw new Error(`onnx threads must be a positive integer, got ${value}`);
  return value;
}

/** A loaded model, run synchronously. */
export class SyncSession {
  private readonly native: NativeSession;
  readonly inputNames: string[];
  readonly outputNames: string[];
  private disposed = false;

  constructor(model: Uint8Array, options: OnnxSessionOptions = {}) {
    const rt = loadOnnxRuntime();
    if (!rt) throw new Error(`onnxruntime-node is not available (${loadError})`);
    this.native = new rt.Session();
    const spin = options.spinning ? '1' : '0';
    this.native.loadModel(model.buffer as ArrayBuffer, model.byteOffset, model.byteLength, {
      intraOpNumThreads: resolveThreads(options.threads),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      ...(rt.configEntries ? { extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } } } : {}),
    });
    this.inputNames = this.native.inputNames ?? (this.native.inputMetadata ?? []).map((m) => m.name);
    this.outputNames = this.native.outputNames ?? (this.native.outputMetadata ?? []).map((m) => m.name);
  }

  /**
   * Runs the graph. Each fetch is either a preallocated tensor (ORT writes into its buffer, which must have the
   * output's exact shape) or null (ORT allocates; the result's data is returned).
   */
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, OrtTensor | null>): Record<string, OrtTensor> {
    if (this.disposed) throw new Error('onnx session used after it was disposed');
    return this.native.run(feeds, fetches, {});
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.native.dispose?.();
  }
}

/** A float32 tensor over `data` (no copy). */
export function floatTensor(data: Float32Array, dims: readonly number[]): OrtTensor {
  const rt = loadOnnxRuntime();
  if (!rt) throw new Error(`onnxruntime-node is not available (${loadError})`);
  return new rt.Tensor('float32', data, dims);
}
