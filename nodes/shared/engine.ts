/**
 * The compute engine shared by the hff-model nodes of the process. tfjs has one active backend per process, so the
 * first model's tfjs backend wins; a later model asking for another tfjs backend gets the active engine and a
 * note saying so, instead of silently switching the backend under the other models' weights. The onnx engine
 * (when the library offers it) does not use tfjs and is kept apart. 'auto' takes whichever engine is active.
 */
import { createEngine, describeEngine, engineFallbackReason } from '../../src/engines/backend';
import type { Engine } from '../../src/engines/types';

const ENGINE_OF_CHOICE: Record<string, string> = {
  'tfjs-node': 'tfjs-node',
  wasm: 'tfjs-wasm',
  cpu: 'tfjs-cpu',
  onnx: 'onnx',
};

type Family = 'tfjs' | 'onnx';
const active = new Map<Family, Promise<Engine>>();

function familyOfEngine(engine: Engine): Family {
  return engine.name === 'onnx' ? 'onnx' : 'tfjs';
}

export interface SharedEngine {
  engine: Engine;
  /** Set when the requested backend differs from the one already active. */
  note?: string;
  /** Why an automatic choice gave a slower engine than the onnx engine (see engineFallbackReason). */
  fallback?: string;
}

/** Where the one line per engine start goes: Node-RED's log, set when hff-model registers. */
export interface EngineLog {
  info(text: string): void;
  warn(text: string): void;
}
let engineLog: EngineLog | undefined;

export function setEngineLog(log: EngineLog): void {
  engineLog = log;
}

const fallbackOf = new WeakMap<Engine, string>();

async function settled(p: Promise<Engine> | undefined): Promise<Engine | undefined> {
  return p ? p.catch(() => undefined) : undefined;
}

export async function sharedEngine(choice: string): Promise<SharedEngine> {
  const wanted = ENGINE_OF_CHOICE[choice];
  const family: Family | undefined = wanted ? (wanted === 'onnx' ? 'onnx' : 'tfjs') : undefined;
  // 'auto' (or an unknown choice, which createEngine rejects with a clear message) reuses an active engine.
  const candidates: Family[] = family ? [family] : wanted === undefined && choice === 'auto' ? ['tfjs', 'onnx'] : [];
  // The look-up and the claim of a slot happen in the same tick: models deployed together (each calling this
  // from its constructor) then share one engine start instead of racing several.
  const existing = candidates.map((f) => active.get(f)).filter((p): p is Promise<Engine> => p !== undefined);
  for (const p of existing) {
    const engine = await settled(p);
    if (!engine) continue;
    const note =
      wanted && wanted !== engine.name
        ? `backend '${choice}' was chosen but '${engine.name}' is already active: all models of one Node-RED share one tfjs backend`
        : undefined;
    return { engine, note, fallback: fallbackOf.get(engine) };
  }
  const slot = family ?? 'tfjs';
  const started = createEngine(choice);
  active.set(slot, started);
  let engine: Engine;
  try {
    engine = await started;
  } catch (err) {
    if (active.get(slot) === started) active.delete(slot);
    throw err;
  }
  const actual = familyOfEngine(engine);
  if (actual !== slot) {
    if (active.get(slot) === started) active.delete(slot);
    if (!active.has(actual)) active.set(actual, started);
  }
  const fallback = engineFallbackReason(choice);
  if (fallback) {
    fallbackOf.set(engine, fallback);
    engineLog?.warn(`hff: compute engine ${describeEngine(engine.name)}: ${fallback}`);
  } else {
    engineLog?.info(`hff: compute engine ${describeEngine(engine.name)}`);
  }
  return { engine, fallback };
}
