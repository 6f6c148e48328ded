/**
 * hff-teach-ui: the operator's teaching page. Fed the results of hff-classify (msg.payload, with the model input in
 * msg.vector and optionally the camera picture in another msg property) and the drift state of hff-drift
 * (msg.drift), it serves a page on Node-RED's httpNode showing the live frame, the recent frames with what the model
 * called each, the classes and quality signals, and teaches, forgets and renames classes from it.
 */
import * as path from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { ModelController } from '../hff-model/model-controller';
import { translator } from '../shared/i18n';
import { findModel, followModel } from '../shared/model-client';
import { handleInput } from '../shared/node-helpers';
import { ThrottledStatus } from '../shared/status';
import { toBatch } from '../shared/vectors';
import { Gallery } from './gallery';
import { type HttpApp, PageServer, checkPagePath, mountPage } from './page-server';
import { DEFAULT_SETTINGS, type FrameInput, type FramePrediction, type SessionSettings, TeachSession } from './teach-session';

interface HffTeachUiDef extends NodeDef {
  model?: string;
  path?: string;
  picture?: string;
  fps?: string | number;
  strip?: string | number;
  keep?: string | number;
  window?: string | number;
  closeCosine?: string | number;
}

/** A whole number or fraction from the dialog within [min, max]; empty gives the default. */
function setting(value: unknown, fallback: number, min: number, max: number, what: string): number {
  if (value === undefined || value === null || String(value).trim() === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${what} must be a number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

function settingsOf(def: HffTeachUiDef): Partial<SessionSettings> {
  const d = DEFAULT_SETTINGS;
  return {
    framesPerSecond: setting(def.fps, d.framesPerSecond, 0.2, 30, 'frames per second'),
    stripLength: Math.round(setting(def.strip, d.stripLength, 4, 100, 'strip length')),
    keepFrames: Math.round(setting(def.keep, d.keepFrames, 4, 1000, 'frames kept')),
    windowMinutes: setting(def.window, d.windowMinutes, 1, 120, 'count window (minutes)'),
    closeCosine: setting(def.closeCosine, d.closeCosine, 0, 1, 'too-close cosine'),
  };
}

function isPrediction(value: unknown): value is FramePrediction {
  const p = value as Partial<FramePrediction> | null;
  return !!p && typeof p === 'object' && typeof p.label === 'string' && typeof p.score === 'number' && typeof p.known === 'boolean';
}

function asVector(value: unknown, what: string): Float32Array {
  if (value instanceof Float32Array) return value;
  if (Array.isArray(value) && value.every((v) => typeof v === 'number')) return Float32Array.from(value);
  throw new Error(
    `${what} is missing or not a vector: wire hff-teach-ui after hff-classify fed with model inputs (e.g. hff-image), which leaves the input in msg.vector`,
  );
}

function isVector(value: unknown): boolean {
  return value instanceof Float32Array || (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'number'));
}

/**
 * The frames of a message: an hff-classify result (one, or one per row of a batch) with its input in msg.vector,
 * or a model input alone (from hff-image), which the page classifies itself; a model without classes yet calls
 * every frame unknown, so that its first class can be taught from the page.
 */
async function framesOf(msg: Record<string, unknown>, picture: unknown, model: ModelController): Promise<FrameInput[]> {
  const payload = msg.payload;
  if (isVector(payload)) {
    const net = model.readyNetwork ?? (await model.ready());
    const { data } = toBatch(payload as Float32Array | number[], net.inputSize, 'msg.payload');
    const prediction: FramePrediction = net.classes.length > 0 ? net.predict(data, 1)[0] : { label: 'no classes yet', score: 0, known: false };
    return [{ prediction, vector: data, picture }];
  }
  if (Array.isArray(payload)) {
    if (!Array.isArray(msg.vector) || msg.vector.length !== payload.length || !payload.every(isPrediction)) {
      throw new Error('a batch needs msg.payload as hff-classify results and msg.vector with one vector per result');
    }
    return payload.map((p, i) => ({ prediction: p, vector: asVector((msg.vector as unknown[])[i], `msg.vector[${i}]`) }));
  }
  if (!isPrediction(payload)) {
    throw new Error(
      'msg.payload must be an hff-classify result {label, score, known} or a model input vector (from hff-image), or the message must carry msg.drift from hff-drift',
    );
  }
  return [{ prediction: payload, vector: asVector(msg.vector, 'msg.vector'), picture }];
}

/** The image shape of a message's vector from hff-image's msg.image, for drawing it. */
function shapeOf(image: unknown): [number, number, number] | undefined {
  const m = image as { outWidth?: unknown; outHeight?: unknown; channels?: unknown } | null;
  if (!m || typeof m !== 'object') return undefined;
  const { outWidth: w, outHeight: h, channels: c } = m;
  return Number.isInteger(w) && Number.isInteger(h) && (c === 1 || c === 3) ? [h as number, w as number, c as number] : undefined;
}

export = function register(RED: NodeAPI): void {
  function HffTeachUiNode(this: Node, def: HffTeachUiDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const t = translator(RED, 'hff-teach-ui', __dirname);
    const status = new ThrottledStatus(node, 1000);
    const model = findModel(RED, def.model);
    const pictureProperty = String(def.picture ?? 'picture').trim();
    let problem: Error | undefined;
    let session: TeachSession | undefined;
    let server: PageServer | undefined;
    let unmount = (): void => undefined;
    let pagePath = '';
    try {
      if (!model) throw new Error('no hff-model is selected (or it is disabled): open the node and choose a model');
      pagePath = checkPagePath(def.path ?? '/hff/teach');
      const app = (RED as unknown as { httpNode?: HttpApp }).httpNode;
      if (!app || typeof app.use !== 'function')
        throw new Error('Node-RED serves no node pages (httpNodeRoot is false in settings.js): the teaching page needs them');
      session = new TeachSession(
        model,
        Gallery.of(model, (text) => node.warn(text)),
        settingsOf(def),
      );
      server = new PageServer(session, path.join(__dirname, 'page'));
      unmount = mountPage(app, pagePath, server);
    } catch (err) {
      problem = err as Error;
      session?.close();
      server?.close();
      session = undefined;
      server = undefined;
      node.error(`hff-teach-ui: ${problem.message}`);
      status.set({ colour: 'red', shape: 'ring', text: model ? t('status.badConfig') : t('status.noModel') }, true);
    }

    let frames = 0;
    /** Ids of the last messages taken as frames. */
    const recentMessages: string[] = [];
    const pageStatus = () => ({ colour: 'green' as const, text: t('status.serving', { path: pagePath, viewers: server?.clientCount ?? 0, frames }) });
    let unfollow = (): void => undefined;
    let unState = (): void => undefined;
    let classesTimer: NodeJS.Timeout | undefined;
    if (session && model) {
      const s = session;
      unfollow = followModel(model, status, t, (state) => {
        if (state.phase !== 'ready') return false;
        status.set(pageStatus(), true);
        return true;
      });
      // Classes may change elsewhere too (hff-teach, fleet, reset): the page's list follows, at most 4 times a second.
      const classesChanged = () => {
        classesTimer ??= setTimeout(() => {
          classesTimer = undefined;
          s.modelChanged();
        }, 250);
      };
      unState = model.onState(classesChanged);
      model.ready().then(classesChanged, () => undefined);
      server!.onViewers = () => status.set(pageStatus());
      server!.onCommand = (result) => {
        const net = model.readyNetwork;
        node.send({ topic: String(result.action), payload: { ...result, classes: net ? [...net.classes] : [] } });
        status.set(pageStatus(), true);
      };
    }

    handleInput<Record<string, unknown>>(node, async (msg) => {
      if (problem || !session) throw new Error(`hff-teach-ui is not running: ${problem?.message}`);
      const drift = msg.drift;
      if (drift && typeof drift === 'object' && !Array.isArray(drift)) session.setDrift(drift as Record<string, unknown>);
      // A frame reaching the node twice (from hff-classify and again through hff-drift) counts once.
      const id = msg._msgid;
      if (typeof id === 'string' && recentMessages.includes(id)) return;
      if (drift && !isPrediction(msg.payload) && !Array.isArray(msg.payload) && !isVector(msg.payload)) return;
      const picture = pictureProperty === '' ? undefined : RED.util.getMessageProperty(msg, pictureProperty);
      const list = await framesOf(msg, picture, model as ModelController);
      if (typeof id === 'string') {
        recentMessages.push(id);
        if (recentMessages.length > 16) recentMessages.shift();
      }
      const net = model?.readyNetwork;
      const shape = (net?.config.inputShape as [number, number, number] | undefined) ?? shapeOf(msg.image);
      for (const f of list) {
        frames += 1;
        await session.offer({ ...f, shape });
      }
      status.set(pageStatus);
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      if (classesTimer) clearTimeout(classesTimer);
      unState();
      unfollow();
      unmount();
      server?.close();
      session?.close();
      status.close();
      done();
    });
  }

  RED.nodes.registerType('hff-teach-ui', HffTeachUiNode);
};
