import { tf } from './tfjs/tf';
import type { Engine } from './types';

/** The tfjs backends. */
export type BackendChoice = 'auto' | 'tfjs-node' | 'wasm' | 'cpu';
/** Every engine choice: the tfjs backends and the onnx engine (onnxruntime-node, an optional dependency). */
export type EngineChoice = BackendChoice | 'onnx';
export const BACKEND_CHOICES: readonly EngineChoice[] = ['auto', 'onnx', 'tfjs-node', 'wasm', 'cpu'];

let tfjsNodeLoadError: string | undefined;
let tfjsNodeTried = false;

function tryLoadTfjsNode(): boolean {
  if (!tfjsNodeTried) {
    tfjsNodeTried = true;
    try {
      // Registers the native 'tensorflow' backend with the shared tfjs-core when it is installed.
      require('@tensorflow/tfjs-node');
    } catch (err) {
      tfjsNodeLoadError = (err as Error).message.split('\n')[0];
    }
  }
  return tfjsNodeLoadError === undefined && tf().findBackend('tensorflow') !== null;
}

function parseChoice(value: string, origin: string): EngineChoice {
  if ((BACKEND_CHOICES as readonly string[]).includes(value)) return value as EngineChoice;
  throw new Error(`${origin}: unknown backend '${value}'; choose one of ${BACKEND_CHOICES.join(', ')}`);
}

/** tfjs backend name and our engine name for each choice. */
const TFJS_BACKENDS: Record<Exclude<BackendChoice, 'auto'>, { tfjs: string; engine: string }> = {
  'tfjs-node': { tfjs: 'tensorflow', engine: 'tfjs-node' },
  wasm: { tfjs: 'wasm', engine: 'tfjs-wasm' },
  cpu: { tfjs: 'cpu', engine: 'tfjs-cpu' },
};

/**
 * The tfjs backend initialisation under way or done, per backend. tfjs names a backend active as soon as
 * setBackend starts, before its (async, for wasm) initialisation ends, so a second caller that only checked
 * getBackend() would go on to compute on a backend that is not ready yet ("Backend 'wasm' has not yet been
 * initialized"). Every caller awaits the same initialisation instead.
 */
const activations = new Map<string, { promise: Promise<void>; done: boolean }>();

function activate(choice: Exclude<BackendChoice, 'auto'>): Promise<void> {
  const name = TFJS_BACKENDS[choice].tfjs;
  const known = activations.get(name);
  // Under way: join it. Done: reuse it unless another backend was made active since.
  if (known && (!known.done || tf().getBackend() === name)) return known.promise;
  const entry = { promise: initialise(choice, name), done: false };
  activations.set(name, entry);
  entry.promise.then(
    () => {
      entry.done = true;
    },
    () => {
      if (activations.get(name) === entry) activations.delete(name);
    },
  );
  return entry.promise;
}

async function initialise(choice: Exclude<BackendChoice, 'auto'>, name: string): Promise<void> {
  const t = tf();
  if (choice === 'tfjs-node' && !tryLoadTfjsNode()) {
    throw new Error(
      `backend tfjs-node is not available (${tfjsNodeLoadError ?? 'not installed'}); ` + 'install @tensorflow/tfjs-node or choose the wasm backend',
    );
  }
  if (choice === 'wasm') require('@tensorflow/tfjs-backend-wasm');
  const ok = await t.setBackend(name);
  if (!ok) throw new Error(`backend ${choice} failed to initialise`);
  await t.ready();
}

function onnxRuntime(): typeof import('./onnx/runtime') {
  return require('./onnx/runtime') as typeof import('./onnx/runtime');
}

/** Whether onnxruntime-node loads (cached), and why not when it does not. */
export function onnxAvailability(): { available: boolean; reason?: string } {
  const rt = onnxRuntime();
  return rt.loadOnnxRuntime() ? { available: true } : { available: false, reason: rt.onnxLoadError() };
}

/** The choice in force: an explicit one, else $HFF_BACKEND, else auto. */
function requestedChoice(choice?: EngineChoice | string): EngineChoice {
  if (choice && choice !== 'auto') return parseChoice(choice, 'backend option');
  return process.env.HFF_BACKEND ? parseChoice(process.env.HFF_BACKEND, 'HFF_BACKEND') : 'auto';
}

function resolveChoice(choice?: EngineChoice | string): Exclude<EngineChoice, 'auto'> {
  const requested = requestedChoice(choice);
  if (requested !== 'auto') return requested;
  if (onnxAvailability().available) return 'onnx';
  return tryLoadTfjsNode() ? 'tfjs-node' : 'wasm';
}

/**
 * Selects the compute engine: an explicit choice, else $HFF_BACKEND, else (auto) the onnx engine when
 * onnxruntime-node loads, else tfjs-node when it loads, else tfjs wasm. tfjs has one active backend per process,
 * so every tfjs model in a process shares it; the onnx engine does not use tfjs and leaves its backend alone.
 * Returns the engine name.
 */
export async function selectBackend(choice?: EngineChoice | string): Promise<string> {
  const resolved = resolveChoice(choice);
  if (resolved === 'onnx') {
    const a = onnxAvailability();
    if (!a.available) {
      throw new Error(`backend onnx is not available (${a.reason ?? 'not installed'}); install onnxruntime-node or choose the wasm backend`);
    }
    return 'onnx';
  }
  await activate(resolved);
  return TFJS_BACKENDS[resolved].engine;
}

/**
 * Why an automatic choice does not give the onnx engine here: onnxruntime-node comes with the package, so the
 * onnx engine is what auto is expected to give, and tfjs is 2-4x slower. Undefined when onnx loads or the choice
 * (argument or $HFF_BACKEND) names an engine.
 */
export function engineFallbackReason(choice?: EngineChoice | string): string | undefined {
  if (requestedChoice(choice) !== 'auto') return undefined;
  const a = onnxAvailability();
  return a.available ? undefined : `the onnx engine did not load (${a.reason ?? 'onnxruntime-node is not installed'}); tfjs runs instead, 2-4x slower`;
}

/** The engine's name with what runs it, e.g. "onnx (onnxruntime-node 1.16.3)" or "tfjs-wasm (tfjs 4.22.0)". */
export function describeEngine(name: string): string {
  if (name === 'onnx') return `onnx (onnxruntime-node ${onnxRuntime().loadOnnxRuntime()?.version ?? '?'})`;
  return `${name} (tfjs ${tf().version.tfjs})`;
}

export interface EngineOptions {
  /** onnx engine: ORT intra-op threads (default $HFF_ONNX_THREADS, else min(2, cores)). */
  threads?: number;
}

let sharedOnnxEngine: import('./onnx/onnx-engine').OnnxEngine | undefined;

/** An engine on the selected backend (the onnx engine is shared per process unless options are given). */
export async function createEngine(choice?: EngineChoice | string, options: EngineOptions = {}): Promise<Engine> {
  const name = await selectBackend(choice);
  if (name === 'onnx') {
    const { OnnxEngine } = require('./onnx/onnx-engine') as typeof import('./onnx/onnx-engine');
    if (options.threads !== undefined) return new OnnxEngine({ threads: options.threads });
    if (!sharedOnnxEngine) sharedOnnxEngine = new OnnxEngine();
    return sharedOnnxEngine;
  }
  const { TfjsEngine } = require('./tfjs/tfjs-engine') as typeof import('./tfjs/tfjs-engine');
  return new TfjsEngine(name);
}
