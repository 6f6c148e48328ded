/**
 * hff-image: turns camera payloads (sensor_msgs/Image, sensor_msgs/CompressedImage, JPEG/PNG Buffers, number
 * arrays) into model input vectors through the library's single decode path (sharp). Output size comes from the
 * selected model's image shape when it has one, else from the node's own fields.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { HffNetwork } from '../../src/hff/network';
import { imageToVector, type FitMode, type ImageToVectorOptions, type Normalization } from '../../src/image';
import { resolveImageOptions } from '../../src/image/options';
import { translator } from '../shared/i18n';
import { findModel, followModel } from '../shared/model-client';
import { handleInput } from '../shared/node-helpers';
import { numberSetting } from '../shared/settings';
import { ThrottledStatus } from '../shared/status';

interface HffImageDef extends NodeDef {
  model?: string;
  width?: string | number;
  height?: string | number;
  channels?: string | number;
  fit?: FitMode;
  centerCrop?: string | number;
  normalize?: 'unit' | 'zscore';
}

/** The dialog's fields as image options, checked now so that a typo shows as bad settings. */
function imageSettings(def: HffImageDef): ImageToVectorOptions {
  const side = { integer: true, min: 1, max: 16384 };
  const channels = numberSetting(def.channels, 'channels', { integer: true, min: 1, max: 3 }) ?? 1;
  if (channels === 2) throw new Error('channels must be 1 (grey) or 3 (colour), got 2');
  const options: ImageToVectorOptions = {
    width: numberSetting(def.width, 'width', side) ?? 28,
    height: numberSetting(def.height, 'height', side) ?? 28,
    channels: channels as 1 | 3,
    fit: def.fit ?? 'fill',
    centerCrop: numberSetting(def.centerCrop, 'centre crop', { min: 0, aboveMin: true, max: 1 }) ?? 1,
    normalize: (def.normalize ?? 'unit') as Normalization,
  };
  resolveImageOptions(options, 'hff-image');
  return options;
}

/** A payload as it may arrive after JSON (MQTT, HTTP): Buffers as {type:'Buffer', data}, objects as text. */
function unwrap(payload: unknown): unknown {
  if (typeof payload === 'string') {
    const text = payload.trim();
    if (text.startsWith('{') || text.startsWith('[')) {
      try {
        return unwrap(JSON.parse(text));
      } catch {
        throw new Error('image: msg.payload is a string that is not valid JSON; send a Buffer, a sensor_msgs image object or a number array');
      }
    }
    throw new Error('image: msg.payload is a string; send JPEG/PNG bytes as a Buffer, a sensor_msgs image object or a number array');
  }
  if (payload !== null && typeof payload === 'object' && !Array.isArray(payload)) {
    const o = payload as Record<string, unknown>;
    if (o.type === 'Buffer' && Array.isArray(o.data) && Object.keys(o).length === 2) return Buffer.from(o.data as number[]);
  }
  return payload;
}

export = function register(RED: NodeAPI): void {
  function HffImageNode(this: Node, def: HffImageDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const t = translator(RED, 'hff-image', __dirname);
    const status = new ThrottledStatus(node);
    const model = findModel(RED, def.model);
    let own: ImageToVectorOptions = { width: 28, height: 28, channels: 1 };
    let settingsProblem: Error | undefined;
    try {
      own = imageSettings(def);
    } catch (err) {
      settingsProblem = err as Error;
    }
    const shapeText = (o: ImageToVectorOptions) => `${o.width}x${o.height}x${o.channels}`;

    let unfollow = () => undefined as void;
    if (settingsProblem) {
      status.set({ colour: 'red', shape: 'ring', text: t('status.badConfig') }, true);
    } else if (def.model && !model) {
      status.set({ colour: 'red', shape: 'ring', text: t('status.noModel') }, true);
    } else if (model) {
      unfollow = followModel(model, status, t, (state) => {
        if (settingsProblem) {
          status.set({ colour: 'red', shape: 'ring', text: t('status.badConfig') }, true);
          return true;
        }
        if (state.phase !== 'ready') return false;
        status.set(status.lastActivity ?? { colour: 'green', text: t('status.ready') }, true);
        return true;
      });
    }

    /** The output size: the model's image shape when it has one, else the node's fields (checked against the model). */
    function optionsFor(net: HffNetwork | undefined): ImageToVectorOptions {
      if (!model || !net) return own;
      const shape = net.config.inputShape;
      if (shape) {
        const [height, width, channels] = shape;
        if (channels !== 1 && channels !== 3) throw new Error(`model ${model.label} has image shape ${shape.join('x')}: only 1 or 3 channels can be produced`);
        return { ...own, width, height, channels };
      }
      if (own.width * own.height * own.channels !== net.inputSize) {
        throw new Error(
          `hff-image makes vectors of ${shapeText(own)} = ${own.width * own.height * own.channels} values but model ${model.label} takes ${net.inputSize}: ` +
            'set width, height and channels to match (or give the model an image shape)',
        );
      }
      return own;
    }

    handleInput<Record<string, unknown>>(node, async (msg, send) => {
      if (settingsProblem) throw new Error(`hff-image is misconfigured: ${settingsProblem.message}`);
      if (def.model && !model) throw new Error('the selected hff-model is missing (or disabled): open the node and choose a model, or none');
      const o = optionsFor(model ? (model.readyNetwork ?? (await model.ready())) : undefined);
      const { vector, meta } = await imageToVector(unwrap(msg.payload), o);
      msg.payload = vector;
      msg.image = meta;
      status.activity(() => ({ colour: 'green', text: t('status.converted', { shape: shapeText(o), from: meta.encoding ?? meta.source }) }));
      send(msg);
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      unfollow();
      status.close();
      done();
    });
  }

  RED.nodes.registerType('hff-image', HffImageNode);
};
