/**
 * Shared set-up for the node tests: Node-RED 4 through node-red-node-test-helper, a temporary userDir, tiny
 * models on the wasm backend, and small waits for messages and status texts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import helper = require('node-red-node-test-helper');
import type { Node } from 'node-red';
import { tempDir } from '../helpers/data';

import classifyNode = require('../../nodes/hff-classify/hff-classify');
import driftNode = require('../../nodes/hff-drift/hff-drift');
import imageNode = require('../../nodes/hff-image/hff-image');
import layerNode = require('../../nodes/hff-layer/hff-layer');
import modelNode = require('../../nodes/hff-model/hff-model');
import teachNode = require('../../nodes/hff-teach/hff-teach');
import teachUiNode = require('../../nodes/hff-teach-ui/hff-teach-ui');
import trainNode = require('../../nodes/hff-train/hff-train');
import { nodeRedPath } from '../../src/demo/runtime';

export { helper };

/** Every node of this package, for helper.load. */
export const ALL_NODES = [modelNode, layerNode, classifyNode, teachNode, driftNode, trainNode, imageNode, teachUiNode];

export type FlowNode = Record<string, unknown> & { id: string; type: string };

const dirs: string[] = [];

/** Promise rejections nobody handled while the node tests ran: a node must turn every failure into done(err). */
const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

export function assertNoUnhandledRejection(): void {
  const found = unhandled.splice(0).map((r) => (r instanceof Error ? (r.stack ?? r.message) : String(r)));
  if (found.length > 0) throw new Error(`unhandled promise rejections:\n${found.join('\n')}`);
}

/** HFF_BACKEND before the node tests set it (null: not set by us). */
let savedBackend: string | undefined | null = null;

/**
 * The node tests run on the tfjs wasm backend unless HFF_BACKEND says otherwise; removeTempDirs (each suite's
 * after hook) puts the variable back so that the rest of the suite is not affected.
 */
export function useTestBackend(): void {
  if (savedBackend !== null) return;
  savedBackend = process.env.HFF_BACKEND;
  process.env.HFF_BACKEND = process.env.HFF_BACKEND ?? 'wasm';
}

function restoreBackend(): void {
  if (savedBackend === null) return;
  if (savedBackend === undefined) delete process.env.HFF_BACKEND;
  else process.env.HFF_BACKEND = savedBackend;
  savedBackend = null;
}

/** Initialises the helper on Node-RED 4 with a fresh userDir; returns the userDir. */
export function initNodeRed4(): string {
  useTestBackend();
  helper.init(nodeRedPath());
  const userDir = tempDir('hff-nodes-');
  dirs.push(userDir);
  helper.settings({ userDir });
  return userDir;
}

/** Removes the suite's temporary folders and restores HFF_BACKEND (use as the suite's after hook). */
export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  restoreBackend();
}

export function newTempDir(): string {
  const d = tempDir('hff-nodes-');
  dirs.push(d);
  return d;
}

/** The tab every test flow lives on (Catch nodes catch within their tab). */
export const TAB: FlowNode = { id: 'tab', type: 'tab', label: 'test' };

/** A tiny model config node: input 16, layers [32, 32]. */
export function modelConfig(extra: Record<string, unknown> = {}): FlowNode {
  return {
    id: 'model',
    type: 'hff-model',
    name: 'tiny',
    source: 'auto',
    path: '',
    backend: 'auto',
    inputSize: 16,
    inputShape: '',
    layers: '32,32',
    classes: '',
    tau: 0.1,
    learningRate: 0.01,
    unknownThreshold: 0.5,
    seed: 1,
    saveDelay: 50,
    ...extra,
  };
}

/** A node on the test tab. */
export function onTab(n: FlowNode): FlowNode {
  return { z: 'tab', x: 100, y: 100, ...n };
}

/** Catch node wired to a helper node with id 'caught'. */
export function catchNodes(): FlowNode[] {
  return [
    { id: 'catch', type: 'catch', z: 'tab', x: 100, y: 200, scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab', x: 300, y: 200, wires: [] },
  ];
}

export function helperNode(id: string): FlowNode {
  return { id, type: 'helper', z: 'tab', x: 300, y: 100, wires: [] };
}

type Listener = (msg: Record<string, unknown>) => void;

/** Collects every message a helper node receives. */
export function collect(id: string): Record<string, unknown>[] {
  const got: Record<string, unknown>[] = [];
  (helper.getNode(id) as unknown as { on(e: string, l: Listener): void }).on('input', (msg) => got.push(msg));
  return got;
}

export async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Resolves with the n-th (1-based) message that arrives in `list`. */
export async function nth(list: Record<string, unknown>[], n: number, what = 'message', timeoutMs = 10_000): Promise<Record<string, unknown>> {
  await waitFor(`${what} #${n}`, () => list.length >= n, timeoutMs);
  return list[n - 1];
}

export interface StatusValue {
  fill?: string;
  shape?: string;
  text?: string;
}

interface SpyCall {
  thisValue: unknown;
  args: unknown[];
}

/** Every status the node has set so far (the helper spies on Node.prototype.status). */
export function statuses(id: string): StatusValue[] {
  const node = helper.getNode(id) as unknown as { status: { getCalls(): SpyCall[] } };
  return node.status
    .getCalls()
    .filter((c) => c.thisValue === node)
    .map((c) => c.args[0] as StatusValue);
}

export function lastStatus(id: string): StatusValue | undefined {
  const all = statuses(id);
  return all[all.length - 1];
}

/** Waits until the node's latest status satisfies `check`. */
export async function waitStatus(id: string, check: (s: StatusValue) => boolean, what = 'status'): Promise<StatusValue> {
  try {
    await waitFor(`${id} ${what}`, () => {
      const s = lastStatus(id);
      return s !== undefined && check(s);
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(lastStatus(id))}`);
  }
  return lastStatus(id) as StatusValue;
}

/** Sends a message into a node. */
export function send(id: string, msg: Record<string, unknown>): void {
  (helper.getNode(id) as Node).receive(msg as never);
}

/** The error text a Catch node reports. */
export function caughtText(msg: Record<string, unknown>): string {
  return String((msg.error as { message?: string } | undefined)?.message ?? '').replace(/^Error: /, '');
}

/** A deterministic vector of length n whose direction depends on `seed`. */
export function vector(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.5 + 0.5);
}

/** The model folder the default path gives a model named `name`. */
export function modelDir(userDir: string, name = 'tiny'): string {
  return path.join(userDir, 'hff-models', name);
}
