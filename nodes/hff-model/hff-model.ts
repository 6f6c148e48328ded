/**
 * hff-model: the config node that owns one HFF network shared by every node selecting it. It loads the model
 * from its folder (default <userDir>/hff-models/<name or id>) or creates it from the architecture in the dialog,
 * saves it (debounced, atomically) after teaching or training, and flushes pending saves when it closes.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import type { Node, NodeAPI } from 'node-red';
import type { NetworkCreateOptions } from '../../src/hff/network';
import { layerLabel } from '../../src/hff/config';
import { setEngineLog } from '../shared/engine';
import { FLEET_CREDENTIALS, attachFleetSync, fleetSettings, type FleetCredentials } from '../shared/fleet-sync';
import { ModelController } from './model-controller';
import { numberSetting } from '../shared/settings';
import { architectureOf, classesOf, folderName, type HffModelDef } from './model-settings';

export = function register(RED: NodeAPI): void {
  setEngineLog(RED.log);
  function HffModelNode(this: Node & { controller?: ModelController }, def: HffModelDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? path.join(os.homedir(), '.node-red');
    const given = String(def.path ?? '').trim();
    const dir = given === '' ? path.join(userDir, 'hff-models', folderName(def.name, node.id)) : path.resolve(userDir, given);
    let architecture: NetworkCreateOptions;
    let classes: string[] = [];
    let problem: Error | undefined;
    try {
      architecture = architectureOf(def, userDir);
      classes = classesOf(def.classes);
    } catch (err) {
      problem = err as Error;
      architecture = { inputSize: 0 };
    }
    let saveDelayMs = 1000;
    try {
      saveDelayMs = numberSetting(def.saveDelay, 'save delay', { min: 0 }) ?? 1000;
    } catch (err) {
      node.warn(`${(err as Error).message}; saving 1 s after learning`);
    }
    node.controller = new ModelController(
      {
        label: def.name || node.id,
        dir,
        source: def.source === 'file' ? 'file' : 'auto',
        backend: def.backend || 'auto',
        architecture,
        classes,
        saveDelayMs,
        architectureProblem: problem,
      },
      { warn: (text) => node.warn(text), error: (text) => node.error(text) },
    );
    const controller = node.controller;
    // Fleet sharing (optional): what hff-teach teaches here goes to the broker, what others teach is merged in.
    let fleet: ReturnType<typeof attachFleetSync>;
    try {
      fleet = attachFleetSync(RED, node, controller, fleetSettings(def, node.credentials as FleetCredentials | undefined, node.id, userDir));
    } catch (err) {
      node.error(`fleet sharing is off: ${(err as Error).message}`);
      controller.setNotice('fleet off: bad settings (see the log)');
    }
    controller.ready().then(
      (net) => {
        const origin = controller.state.origin === 'loaded' ? 'loaded' : 'created';
        node.log(
          `${origin} ${dir} (${net.engine.name}, input ${net.inputSize}, layers ${net.config.stack.map(layerLabel).join(',')}, ${net.classes.length} classes)`,
        );
        const taught = net.taughtClassNames();
        if (taught.length > 0) {
          const { representation, scoring, score: chosen } = net.teachingRepresentation;
          const score = chosen !== null ? ` (leave-one-out ${chosen.toFixed(2)})` : '';
          node.log(
            `taught classes ${taught.map((c) => `${c} (${net.demonstrationCount(c)})`).join(', ')} scored by their ${scoring === 'mean' ? 'mean' : 'nearest demonstration'} in '${representation}'${score}`,
          );
        }
      },
      // Closed before it was ready (a redeploy or shutdown right after start) is no error.
      (err: Error) => {
        if (controller.state.phase !== 'closed') node.error(err.message);
      },
    );

    node.on('close', (_removed: boolean, done: () => void) => {
      (fleet ? fleet.close() : Promise.resolve())
        .then(() => controller.close())
        .then(done, (err: Error) => {
          node.error(err.message);
          done();
        });
    });
  }

  RED.nodes.registerType('hff-model', HffModelNode, { credentials: FLEET_CREDENTIALS });
};
