import type { Engine } from '../engines/types';
import { loadModelFiles, saveModelFiles } from '../model-file';
import { HffNetwork } from './network';

/** Loads a network saved by `saveNetwork` (or `ModelStore`), validating it fully before building anything. */
export async function loadNetwork(dir: string, engine: Engine): Promise<HffNetwork> {
  const files = await loadModelFiles(dir);
  return HffNetwork.fromModelFiles(engine, files, dir, dir);
}

/** Saves atomically: a crash mid-save leaves the previous model loadable. */
export async function saveNetwork(dir: string, network: HffNetwork): Promise<void> {
  const files = network.toModelFiles();
  files.manifest.savedAt = new Date().toISOString();
  await saveModelFiles(dir, files);
}
