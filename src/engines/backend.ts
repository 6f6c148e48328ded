import type * as tfTypes from '@tensorflow/tfjs';
import type { Engine } from './types';

export type BackendChoice = 'auto' | 'tfjs-node' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tfjs-node', 'wasm', 'cpu'];

type Tf = typeof tfTypes;
let tfModule: Tf | undefined;
let tfjsNodeLoadError: string | undefined;
let tfjsNodeTried = false;

/** The tfjs namespace (loaded on first use so that `require` of the package stays cheap). */
export function tf(): Tf {
  if (!tfModule) tfModule = require('@tensorflow/tfjs') as Tf;
  return tfModule;
}

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

function parseChoice(value: string, origin: string): BackendChoice {
  if ((BACKEND_CHOICES as readonly string[]).includes(value)) return value as BackendChoice;
  throw new Error(`${origin}: unknown backend '${value}'; choose one of ${BACKEND_CHOICES.join(', ')}`);
}

/** tfjs backend name and our engine name for each choice. */
const TFJS_BACKENDS: Record<Exclude<BackendChoice, 'auto'>, { tfjs: string; engine: string }> = {
  'tfjs-node': { tfjs: 'tensorflow', engine: 'tfjs-node' },
  wasm: { tfjs: 'wasm', engine: 'tfjs-wasm' },
  cpu: { tfjs: 'cpu', engine: 'tfjs-cpu' },
};

async function activate(choice: Exclude<BackendChoice, 'auto'>): Promise<void> {
  const t = tf();
  if (choice === 'tfjs-node' && !tryLoadTfjsNode()) {
    throw new Error(
      `backend tfjs-node is not available (${tfjsNodeLoadError ?? 'not installed'}); ` +
        'install @tensorflow/tfjs-node or choose the wasm backend',
    );
  }
  if (choice === 'wasm') require('@tensorflow/tfjs-backend-wasm');
  const name = TFJS_BACKENDS[choice].tfjs;
  if (t.getBackend() === name) return;
  const ok = await t.setBackend(name);
  if (!ok) throw new Error(`backend ${choice} failed to initialise`);
  await t.ready();
}

/**
 * Selects the compute backend: an explicit choice, else $HFF_BACKEND, else tfjs-node when it loads and wasm
 * otherwise. tfjs has one active backend per process, so every model in a process shares it.
 */
export async function selectBackend(choice?: BackendChoice | string): Promise<string> {
  const requested = choice && choice !== 'auto'
    ? parseChoice(choice, 'backend option')
    : process.env.HFF_BACKEND
      ? parseChoice(process.env.HFF_BACKEND, 'HFF_BACKEND')
      : 'auto';
  const resolved: Exclude<BackendChoice, 'auto'> = requested === 'auto' ? (tryLoadTfjsNode() ? 'tfjs-node' : 'wasm') : requested;
  await activate(resolved);
  return TFJS_BACKENDS[resolved].engine;
}

/** An engine on the selected backend. */
export async function createEngine(choice?: BackendChoice | string): Promise<Engine> {
  const name = await selectBackend(choice);
  const { TfjsEngine } = require('./tfjs/tfjs-engine') as typeof import('./tfjs/tfjs-engine');
  return new TfjsEngine(name);
}
