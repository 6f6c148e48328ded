/**
 * The demo's Node-RED user directory: this package linked into its node_modules (so Node-RED loads it like an
 * installed palette module), the demo flows and the bundled model copied in on first start only, so that
 * edits and taught objects survive restarts (`--reset` puts the bundled ones back).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PACKAGE_NAME, packageRoot } from '../package-info';

/** Folder of the demo model inside the user directory; demo/flows.json's hff-model node points here. */
export const DEMO_MODEL_DIR = path.join('hff-models', 'demo-fruit');
export const DEFAULT_USER_DIR = path.join(os.homedir(), '.node-red-hff-demo');

export interface DemoAssets {
  flows: string;
  model: string;
  bag: string;
}

export function demoAssets(root = packageRoot()): DemoAssets {
  const demo = path.join(root, 'demo');
  return { flows: path.join(demo, 'flows.json'), model: path.join(demo, 'model'), bag: path.join(demo, 'camera.mcap') };
}

export interface PrepareOptions {
  userDir: string;
  /** Flows to install: 'demo' (demo/flows.json), 'none' (an empty flow file), or a path to a flows file. */
  flows?: string;
  /** Put the bundled flows and model back even when the user directory has its own. */
  reset?: boolean;
}

export interface PreparedUserDir {
  userDir: string;
  flowFile: string;
  /** What happened on this start, for the start-up message. */
  notes: string[];
}

function linkPackage(userDir: string, root: string, notes: string[]): void {
  const modules = path.join(userDir, 'node_modules');
  const link = path.join(modules, PACKAGE_NAME);
  fs.mkdirSync(modules, { recursive: true });
  let current: string | undefined;
  try {
    current = fs.realpathSync(link);
  } catch {
    current = undefined;
  }
  if (current === fs.realpathSync(root)) return;
  if (current !== undefined || fs.lstatSync(link, { throwIfNoEntry: false })) {
    const stat = fs.lstatSync(link);
    if (!stat.isSymbolicLink()) {
      throw new Error(`${link} exists and is not a link to this checkout; remove it or choose another --user-dir`);
    }
    fs.unlinkSync(link);
  }
  fs.symlinkSync(root, link, process.platform === 'win32' ? 'junction' : 'dir');
  notes.push(`linked ${link} -> ${root}`);
  const manifest = path.join(userDir, 'package.json');
  if (!fs.existsSync(manifest)) {
    fs.writeFileSync(
      manifest,
      `${JSON.stringify({ name: 'node-red-hff-demo', description: 'Node-RED user directory of the node-red-contrib-hff demo', version: '0.0.0', private: true, dependencies: { [PACKAGE_NAME]: `file:${root}` } }, null, 2)}\n`,
    );
  }
}

/** Creates or refreshes the user directory; never touches a flows file or model it did not put there unless `reset`. */
export function prepareUserDir(options: PrepareOptions): PreparedUserDir {
  const root = packageRoot();
  const assets = demoAssets(root);
  const userDir = path.resolve(options.userDir);
  const notes: string[] = [];
  if (path.resolve(userDir) === path.join(os.homedir(), '.node-red') && !options.reset) {
    notes.push('note: using your own ~/.node-red; its flows file is left as it is');
  }
  fs.mkdirSync(userDir, { recursive: true });
  linkPackage(userDir, root, notes);

  const flowFile = path.join(userDir, 'flows.json');
  const flows = options.flows ?? 'demo';
  if (flows === 'none') {
    if (!fs.existsSync(flowFile) || options.reset) fs.writeFileSync(flowFile, '[]\n');
  } else {
    const source = flows === 'demo' ? assets.flows : path.resolve(flows);
    if (!fs.existsSync(source)) throw new Error(`flows file ${source} does not exist`);
    if (!fs.existsSync(flowFile) || options.reset || flows !== 'demo') {
      fs.copyFileSync(source, flowFile);
      notes.push(`installed flows from ${source}`);
    } else {
      notes.push(`kept the flows in ${flowFile} (start with --reset to restore the demo flows)`);
    }
  }

  const model = path.join(userDir, DEMO_MODEL_DIR);
  if (fs.existsSync(assets.model) && (!fs.existsSync(model) || options.reset)) {
    fs.rmSync(model, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(model), { recursive: true });
    fs.cpSync(assets.model, model, { recursive: true });
    notes.push(`copied the bundled model to ${model}`);
  }
  return { userDir, flowFile, notes };
}
