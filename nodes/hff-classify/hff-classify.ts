/**
 * hff-classify: single forward pass of the whole model, or the decision at the end of a chain of hff-layer
 * nodes. Output 1 gets known results, output 2 the inputs whose best similarity is under the unknown threshold.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { Scoring } from '../../src/hff/config';
import type { HffNetwork, LayerOutput, Prediction, PredictOptions } from '../../src/hff/network';
import type { LayerInfo } from '../shared/layer-info';
import { translator } from '../shared/i18n';
import { findModel, followModel, requireModel } from '../shared/model-client';
import { handleInput } from '../shared/node-helpers';
import { ThrottledStatus } from '../shared/status';
import { numberSetting } from '../shared/settings';
import { isBlank, readVectors, splitRows, toBatch } from '../shared/vectors';

interface HffClassifyDef extends NodeDef {
  model?: string;
  topK?: string | number;
  threshold?: string | number;
  scoring?: '' | Scoring;
}

const EMPTY = new Float32Array(0);

/** The dialog's settings as predict options; throws naming a bad field. */
function predictOptions(def: HffClassifyDef): PredictOptions {
  const options: PredictOptions = {};
  const topK = numberSetting(def.topK, 'top', { integer: true, min: 1 });
  if (topK !== undefined) options.topK = topK;
  const threshold = numberSetting(def.threshold, 'unknown under', { min: -1, max: 1 });
  if (threshold !== undefined) options.unknownThreshold = threshold;
  if (def.scoring === 'final' || def.scoring === 'sum') options.scoring = def.scoring;
  else if (def.scoring !== undefined && def.scoring !== '')
    throw new Error(`scoring must be final, sum or empty (the model's), got ${JSON.stringify(def.scoring)}`);
  return options;
}

/**
 * An all-zero input has no direction, so its cosines say nothing about any class (they only echo the biases):
 * it is never a known class, whatever its score.
 */
function markBlankRowsUnknown(predictions: Prediction[], data: Float32Array, batch: number): Prediction[] {
  const size = data.length / batch;
  predictions.forEach((p, row) => {
    if (p.known && isBlank(data, row * size, size)) p.known = false;
  });
  return predictions;
}

/** The result as it goes in msg.payload: plain numbers, top as {label, index, score}. */
function result(p: Prediction): Prediction {
  return { label: p.label, index: p.index, score: p.score, margin: p.margin, known: p.known, top: p.top };
}

/** Decisions from the class scores an hff-layer chain carried in msg.hff. */
function decideFromChain(net: HffNetwork, info: LayerInfo, options: PredictOptions): { predictions: Prediction[]; batch: number } {
  const last = net.layerCount - 1;
  if (info.layer !== last) {
    throw new Error(
      `msg.hff shows the output of layer ${info.layer}, but the model's last layer is ${last}: wire the chain through every layer before hff-classify`,
    );
  }
  const scoring = options.scoring ?? net.config.scoring;
  if (scoring === 'sum' && (info.fromLayer !== 0 || info.classScores.length !== net.layerCount)) {
    throw new Error(`'sum' scoring needs every layer's scores: the hff-layer chain must start at layer 0 (it starts at layer ${info.fromLayer})`);
  }
  const k = net.classes.length;
  for (const scores of info.classScores) {
    if (scores.length !== info.batch * k) {
      throw new Error(`the model's classes changed while the message went through the hff-layer chain (now ${k} classes); send it again`);
    }
  }
  const outputs: LayerOutput[] = info.classScores.map((classScores) => ({ z: EMPTY, classScores }));
  if (info.fromLayer === 0 && info.taught?.scores?.length === info.batch * k && info.taught.familiarity?.length === info.batch) outputs[0].taught = info.taught;
  return { predictions: net.decide(outputs, info.batch, options), batch: info.batch };
}

function isChainOutput(value: unknown, modelId: string | undefined): value is LayerInfo {
  const info = value as Partial<LayerInfo> | null | undefined;
  return !!info && typeof info === 'object' && info.model === modelId && typeof info.layer === 'number' && Array.isArray(info.classScores);
}

export = function register(RED: NodeAPI): void {
  function HffClassifyNode(this: Node, def: HffClassifyDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const t = translator(RED, 'hff-classify', __dirname);
    const status = new ThrottledStatus(node);
    const model = findModel(RED, def.model);
    let options: PredictOptions = {};
    let settingsProblem: Error | undefined;
    try {
      options = predictOptions(def);
    } catch (err) {
      settingsProblem = err as Error;
    }
    const unfollow = followModel(model, status, t, () => {
      if (!settingsProblem) return false;
      status.set({ colour: 'red', shape: 'ring', text: t('status.badConfig') }, true);
      return true;
    });

    handleInput<Record<string, unknown>>(node, async (msg, send) => {
      if (settingsProblem) throw new Error(`hff-classify is misconfigured: ${settingsProblem.message}`);
      const controller = requireModel(model);
      const net = controller.readyNetwork ?? (await controller.ready());
      let predictions: Prediction[];
      let batched: boolean;
      if (isChainOutput(msg.hff, def.model)) {
        const chained = decideFromChain(net, msg.hff, options);
        predictions = chained.predictions;
        batched = Array.isArray(msg.payload) && !(typeof msg.payload[0] === 'number');
      } else {
        const parsed = readVectors(msg.payload);
        const { data, batch } = toBatch(parsed.input, net.inputSize, 'msg.payload');
        predictions = markBlankRowsUnknown(net.predict(data, batch, options), data, batch);
        batched = parsed.batched;
        msg.vector = batched ? splitRows(data, batch) : data;
      }
      const results = predictions.map(result);
      const last = results[results.length - 1];
      const anyUnknown = results.some((r) => !r.known);
      status.activity(() =>
        last.known
          ? { colour: 'green', text: t('status.known', { label: last.label, score: last.score.toFixed(2) }) }
          : { colour: 'yellow', shape: 'ring', text: t('status.unknown', { label: last.label, score: last.score.toFixed(2) }) },
      );
      if (!batched) {
        msg.payload = results[0];
        send(results[0].known ? [msg, null] : [null, msg]);
        return;
      }
      msg.payload = results;
      if (!anyUnknown) {
        send([msg, null]);
        return;
      }
      const unknown = RED.util.cloneMessage(msg) as Record<string, unknown>;
      const rows = results.map((r, row) => ({ ...r, row })).filter((r) => !r.known);
      unknown.payload = rows;
      if (Array.isArray(msg.vector)) unknown.vector = rows.map((r) => (msg.vector as Float32Array[])[r.row]);
      send([msg, unknown]);
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      unfollow();
      status.close();
      done();
    });
  }

  RED.nodes.registerType('hff-classify', HffClassifyNode);
};
