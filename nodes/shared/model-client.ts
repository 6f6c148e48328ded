/**
 * How a node uses the hff-model config node it selects: find it, wait for its network, and keep a status that
 * follows the model's state (loading, ready with N classes, error).
 */
import type { Node, NodeAPI } from 'node-red';
import type { ModelController, ModelState } from '../hff-model/model-controller';
import type { Translate } from './i18n';
import type { ThrottledStatus } from './status';

/** The hff-model config node as its clients see it. */
export interface ModelConfigNode extends Node {
  controller: ModelController;
}

/** The config node's controller, or undefined when none is selected or the id is stale. */
export function findModel(RED: NodeAPI, id: unknown): ModelController | undefined {
  if (typeof id !== 'string' || id === '') return undefined;
  const node = RED.nodes.getNode(id) as unknown as Partial<ModelConfigNode> | null;
  return node?.controller;
}

/** Throws the error a flow author can act on when no model is selected. */
export function requireModel(model: ModelController | undefined): ModelController {
  if (!model) throw new Error('no hff-model is selected (or it is disabled): open the node and choose a model');
  return model;
}

/** The usual status of a model client: follows loading / ready / error. */
export function modelStatus(state: ModelState, t: Translate): { colour: 'grey' | 'green' | 'red' | 'blue' | 'yellow'; shape: 'dot' | 'ring'; text: string } {
  switch (state.phase) {
    case 'loading':
      return { colour: 'grey', shape: 'ring', text: t('status.loading') };
    case 'error':
      return { colour: 'red', shape: 'ring', text: t('status.modelError') };
    case 'closed':
      return { colour: 'grey', shape: 'ring', text: t('status.closed') };
    default:
      if (state.busy) return { colour: 'blue', shape: 'ring', text: t('status.busy', { busy: state.busy }) };
      if (state.notice) return { colour: 'yellow', shape: 'ring', text: state.notice };
      // A slower engine than expected shows itself (the log says why); the usual one needs no mention.
      if (state.engineFallback) return { colour: 'yellow', shape: 'dot', text: `${t('status.ready', { classes: state.classes })} · ${state.engine}` };
      return { colour: 'green', shape: 'dot', text: t('status.ready', { classes: state.classes }) };
  }
}

/**
 * Follows the model's state on `status` until the returned function is called (on close). `render` may
 * replace the default status text, e.g. with the last result; it gets the state and returns nothing to keep
 * the default.
 */
export function followModel(model: ModelController | undefined, status: ThrottledStatus, t: Translate, render?: (state: ModelState) => boolean): () => void {
  if (!model) {
    status.set({ colour: 'red', shape: 'ring', text: t('status.noModel') }, true);
    return () => undefined;
  }
  // Learning bumps the version on every message; only a change a user would see updates the status.
  let shown: string | undefined;
  const show = (state: ModelState) => {
    const key = `${state.phase}|${state.classes}|${state.layers}|${state.busy ?? ''}|${state.error ?? ''}|${state.notice ?? ''}`;
    if (key === shown) return;
    shown = key;
    if (render?.(state)) return;
    // Once ready, what the node last did says more than the model's class count.
    // A notice (e.g. an unsigned fleet) stays visible over the last activity.
    status.set(state.phase === 'ready' && !state.busy && !state.notice && status.lastActivity ? status.lastActivity : modelStatus(state, t), true);
  };
  show(model.state);
  return model.onState(show);
}
