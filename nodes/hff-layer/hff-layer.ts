/**
 * hff-layer: one layer of a model, so that a chain of hff-layer nodes draws the network in the flow. The layer's
 * unit-length representation goes on as msg.payload; with msg.label and learning enabled the layer also takes one
 * local training step (learning is local: no wire goes backwards).
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { translator } from '../shared/i18n';
import type { LayerInfo } from '../shared/layer-info';
import { followModel, requireModel, findModel } from '../shared/model-client';
import { handleInput } from '../shared/node-helpers';
import { numberSetting } from '../shared/settings';
import { ThrottledStatus } from '../shared/status';
import { knownClassIndices, namedScores, ownBuffer, readLabels, readVectors, splitRows, toBatch } from '../shared/vectors';

interface HffLayerDef extends NodeDef {
  model?: string;
  layer?: string | number;
  learn?: boolean;
}

export = function register(RED: NodeAPI): void {
  function HffLayerNode(this: Node, def: HffLayerDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const t = translator(RED, 'hff-layer', __dirname);
    const status = new ThrottledStatus(node);
    let layer = 0;
    let settingsProblem: Error | undefined;
    try {
      layer = numberSetting(def.layer, 'layer', { integer: true, min: 0 }) ?? 0;
    } catch (err) {
      settingsProblem = err as Error;
    }
    const learn = def.learn === true || String(def.learn) === 'true';
    const model = findModel(RED, def.model);
    const prefix = `L${layer}`;
    const unfollow = followModel(model, status, t, (state) => {
      if (settingsProblem) {
        status.set({ colour: 'red', shape: 'ring', text: t('status.badConfig') }, true);
        return true;
      }
      if (state.phase !== 'ready') return false;
      if (!(Number.isInteger(layer) && layer >= 0 && layer < state.layers)) {
        status.set({ colour: 'red', shape: 'ring', text: t('status.noLayer', { layer, layers: state.layers }) }, true);
        return true;
      }
      status.set(status.lastActivity ?? { colour: 'green', text: t('status.ready', { layer: prefix, classes: state.classes }) }, true);
      return true;
    });

    handleInput<Record<string, unknown>>(node, async (msg, send) => {
      if (settingsProblem) throw new Error(`hff-layer is misconfigured: ${settingsProblem.message}`);
      const controller = requireModel(model);
      const net = controller.readyNetwork ?? (await controller.ready());
      const { input, batched } = readVectors(msg.payload);
      const { data, batch } = toBatch(input, net.layerInputSize(layer), `layer ${layer} input (msg.payload)`);
      const out = net.layerForward(layer, data, batch);
      let trained: LayerInfo['trained'];
      if (learn && msg.label !== undefined && msg.label !== null) {
        const labels = knownClassIndices(net, readLabels(msg.label, batch));
        const step = net.trainLayerBatch(layer, data, batch, labels);
        trained = { loss: step.loss, correct: step.correct };
        controller.learnedFromMessage();
      }
      const prior = msg.hff as Partial<LayerInfo> | undefined;
      const continues = prior !== undefined && prior !== null && prior.model === def.model && prior.layer === layer - 1 && Array.isArray(prior.classScores);
      const info: LayerInfo = {
        model: def.model as string,
        layer,
        layers: net.layerCount,
        fromLayer: continues ? (prior.fromLayer as number) : layer,
        batch,
        scores: batched ? Array.from({ length: batch }, (_, b) => namedScores(net.classes, out.classScores, b)) : namedScores(net.classes, out.classScores, 0),
        classScores: [...(continues ? (prior.classScores as Float32Array[]) : []), out.classScores],
        classes: net.classes.length,
      };
      const taught = continues ? prior.taught : out.taught;
      if (taught) info.taught = taught;
      if (trained) info.trained = trained;
      const passed = out.output ?? out.z;
      msg.payload = batched ? splitRows(passed, batch) : ownBuffer(passed);
      msg.hff = info;
      const units = passed.length / batch;
      status.activity(() => ({
        colour: 'green',
        text: trained ? t('status.trained', { layer: prefix, loss: trained.loss.toFixed(3) }) : t('status.forward', { layer: prefix, units }),
      }));
      send(msg);
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      unfollow();
      status.close();
      done();
    });
  }

  RED.nodes.registerType('hff-layer', HffLayerNode);
};
