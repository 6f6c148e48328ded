/**
 * The run-time side of an hff-model config node, free of Node-RED so that it reads (and tests) plainly: one
 * network, created or loaded asynchronously, its model store (debounced atomic saves), and a small state event
 * that client nodes turn into their status.
 */
import { EventEmitter } from 'node:events';
import { HffNetwork, type NetworkCreateOptions } from '../../src/hff/network';
import { layerLabel } from '../../src/hff/config';
import type { ModelFiles } from '../../src/model-file';
import { ModelStore } from '../../src/model-file';
import { sharedEngine } from '../shared/engine';

export type ModelSource = 'auto' | 'file';

export interface ModelSettings {
  /** Shown in messages: the node's name, else its id. */
  label: string;
  /** Model folder (absolute). */
  dir: string;
  /** 'auto': load the folder's model if there is one, otherwise create it; 'file': the model must exist. */
  source: ModelSource;
  backend: string;
  /** Architecture of a new model; ignored when a model is loaded. */
  architecture: NetworkCreateOptions;
  classes: string[];
  /** Save delay after learning, ms. */
  saveDelayMs?: number;
  /** A problem found in the dialog's architecture: reported only if a model has to be created. */
  architectureProblem?: Error;
}

export interface ModelLog {
  warn(text: string): void;
  error(text: string): void;
}

export type ModelPhase = 'loading' | 'ready' | 'error' | 'closed';

export interface ModelState {
  phase: ModelPhase;
  classes: number;
  /** Layers of the network (0 until ready). */
  layers: number;
  version: number;
  /** Why the model is not ready (phase 'error'). */
  error?: string;
  /** How it came to be: loaded from its folder or created from the architecture. */
  origin?: 'loaded' | 'created';
  /** A long job holding the model (e.g. 'training'). */
  busy?: string;
  /** A warning every client should show (e.g. an unsigned fleet, refused fleet updates). */
  notice?: string;
  /** The compute engine running the model (once ready). */
  engine?: string;
  /** Why the engine is slower than the onnx engine an automatic choice should give. */
  engineFallback?: string;
}

/** Longest wait in close() for jobs (training) to stop before saving. */
const JOB_STOP_WAIT_MS = 10_000;

export class ModelController {
  readonly settings: ModelSettings;
  private readonly store: ModelStore;
  private readonly events = new EventEmitter();
  private readonly initialising: Promise<HffNetwork>;
  private network?: HffNetwork;
  private baseline?: ModelFiles;
  private phase: ModelPhase = 'loading';
  private failure?: string;
  private origin?: 'loaded' | 'created';
  private busyReason?: string;
  private noticeText?: string;
  private engineFallback?: string;
  private readonly jobs = new Set<Promise<unknown>>();
  private closing = false;
  /** A scheduled save that failed and that no message has reported yet. */
  private saveFailure?: Error;

  constructor(
    settings: ModelSettings,
    private readonly log: ModelLog,
  ) {
    this.settings = settings;
    this.events.setMaxListeners(0);
    this.store = new ModelStore(settings.dir, {
      debounceMs: settings.saveDelayMs ?? 1000,
      onError: (err) => {
        this.log.error(`saving model ${settings.label} to ${settings.dir} failed: ${err.message}`);
        this.saveFailure = err;
      },
    });
    this.initialising = this.init().then(
      (net) => {
        this.network = net;
        this.phase = 'ready';
        this.emit();
        return net;
      },
      (err: Error) => {
        this.phase = this.closing ? 'closed' : 'error';
        this.failure = err.message;
        this.emit();
        throw new Error(`model ${settings.label} is not ready: ${err.message}`);
      },
    );
    // Callers get the rejection through ready(); this keeps it from being reported as unhandled.
    this.initialising.catch(() => undefined);
  }

  get dir(): string {
    return this.settings.dir;
  }

  get label(): string {
    return this.settings.label;
  }

  get state(): ModelState {
    const net = this.network;
    return {
      phase: this.phase,
      classes: net && !net.isDisposed ? net.classes.length : 0,
      layers: net && !net.isDisposed ? net.layerCount : 0,
      version: net && !net.isDisposed ? net.version : 0,
      error: this.failure,
      origin: this.origin,
      busy: this.busyReason,
      notice: this.noticeText,
      engine: net && !net.isDisposed ? net.engine.name : undefined,
      engineFallback: this.engineFallback,
    };
  }

  get busy(): string | undefined {
    return this.busyReason;
  }

  /** The network if it is ready now: the per-message path, which spares a wait on ready() when there is none. */
  get readyNetwork(): HffNetwork | undefined {
    return this.phase === 'ready' ? this.network : undefined;
  }

  /** The network once created or loaded; rejects with "model X is not ready: <reason>". */
  ready(): Promise<HffNetwork> {
    if (this.phase === 'closed') return Promise.reject(new Error(`model ${this.label} is closed`));
    if (this.phase === 'ready' && this.network) return Promise.resolve(this.network);
    return this.initialising.then(() => {
      if (!this.network || this.phase !== 'ready') throw new Error(`model ${this.label} is closed`);
      return this.network;
    });
  }

  /** Subscribes to state changes (and 'closing'); returns the unsubscribe function. */
  onState(listener: (state: ModelState) => void): () => void {
    this.events.on('state', listener);
    return () => this.events.off('state', listener);
  }

  /** Called when the model closes, before it saves and frees the network: long jobs should stop. */
  onClosing(listener: () => void): () => void {
    this.events.on('closing', listener);
    return () => this.events.off('closing', listener);
  }

  /** Shows a warning in every client's status until cleared with undefined. */
  setNotice(text: string | undefined): void {
    if (text === this.noticeText) return;
    this.noticeText = text;
    this.emit();
  }

  /** Records that the network learned something: a save follows after the debounce delay. */
  learned(): void {
    if (this.phase !== 'ready' || !this.network) return;
    this.store.scheduleSave(() => this.requireNetwork().toModelFiles());
    this.emit();
  }

  /**
   * learned() for a node handling a message: also throws when an earlier scheduled save failed, so that the
   * failure reaches that message's done(err), and with it a Catch node, not only the log.
   */
  learnedFromMessage(): void {
    this.learned();
    const failure = this.saveFailure;
    if (failure) {
      this.saveFailure = undefined;
      throw new Error(`the last save of model ${this.label} failed (${failure.message}); what was learned is kept in memory and saving is tried again`, {
        cause: failure,
      });
    }
  }

  /** Saves now (waiting for the write) and reports a failed earlier save too. */
  async save(): Promise<void> {
    await this.ready();
    this.saveFailure = undefined;
    this.store.scheduleSave(() => this.requireNetwork().toModelFiles());
    await this.store.flush();
  }

  /**
   * Restores the network to its state when this model node started (as loaded from its folder, or as created),
   * dropping everything taught or trained since, and saves that.
   */
  async revert(): Promise<HffNetwork> {
    await this.ready();
    this.assertIdle('reset the model');
    const baseline = this.baseline as ModelFiles;
    const old = this.requireNetwork();
    const fresh = HffNetwork.fromModelFiles(old.engine, copyFiles(baseline), this.dir, this.dir);
    // Versions keep increasing so that listeners (and other robots) see the reset as a new state.
    fresh.version = old.version + 1;
    this.network = fresh;
    old.dispose();
    this.learned();
    return fresh;
  }

  /** Throws when a long job (training) holds the model and `what` would disturb it. */
  assertIdle(what: string): void {
    if (this.busyReason) throw new Error(`cannot ${what} of model ${this.label} while ${this.busyReason} runs`);
  }

  /**
   * Runs a long job on the model: marks it busy (one at a time), and makes close() wait for it to finish.
   * The job should stop promptly when onClosing fires.
   */
  async runJob<T>(reason: string, job: () => Promise<T>): Promise<T> {
    await this.ready();
    if (this.closing) throw new Error(`model ${this.label} is closing`);
    this.assertIdle(`start ${reason}`);
    this.busyReason = reason;
    this.emit();
    const running = job();
    this.jobs.add(running);
    try {
      return await running;
    } finally {
      this.jobs.delete(running);
      this.busyReason = undefined;
      if (!this.closing) this.emit();
    }
  }

  /** Stops jobs, writes anything not yet saved, frees the network. Never rejects. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.events.emit('closing');
    if (this.jobs.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.jobs]),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, JOB_STOP_WAIT_MS);
        }),
      ]);
      clearTimeout(timer);
    }
    await this.initialising.catch(() => undefined);
    try {
      await this.store.flush();
    } catch (err) {
      this.log.error(`saving model ${this.label} to ${this.dir} failed: ${(err as Error).message}`);
    }
    this.network?.dispose();
    this.network = undefined;
    this.baseline = undefined;
    this.phase = 'closed';
    this.emit();
    this.events.removeAllListeners();
  }

  private requireNetwork(): HffNetwork {
    if (!this.network) throw new Error(`model ${this.label} is not ready`);
    return this.network;
  }

  private emit(): void {
    this.events.emit('state', this.state);
  }

  private async init(): Promise<HffNetwork> {
    const { engine, note, fallback } = await sharedEngine(this.settings.backend);
    if (note) this.log.warn(note);
    this.engineFallback = fallback;
    let net: HffNetwork;
    if (this.store.exists()) {
      const files = await this.store.load();
      net = HffNetwork.fromModelFiles(engine, files, this.dir, this.dir);
      this.origin = 'loaded';
      this.warnIfArchitectureDiffers(net);
    } else if (this.settings.source === 'file') {
      throw new Error(`no model file in ${this.dir} (the node is set to load an existing model)`);
    } else {
      if (this.settings.architectureProblem) throw this.settings.architectureProblem;
      net = HffNetwork.create(engine, this.settings.architecture, this.settings.classes);
      this.origin = 'created';
    }
    if (this.closing) {
      net.dispose();
      throw new Error('closed while loading');
    }
    this.baseline = net.toModelFiles();
    return net;
  }

  private warnIfArchitectureDiffers(net: HffNetwork): void {
    if (this.settings.source === 'file') return;
    const a = this.settings.architecture;
    const sameInput = a.inputSize === net.config.inputSize;
    const loaded = net.config.stack.map(layerLabel).join(',');
    const sameLayers = !a.layers || a.layers.map(layerLabel).join(',') === loaded;
    if (!sameInput || !sameLayers) {
      this.log.warn(
        `model ${this.label}: loaded ${this.dir} (input ${net.config.inputSize}, layers ${loaded}); ` +
          `the architecture in the dialog (input ${a.inputSize}, layers ${(a.layers ?? []).map(layerLabel).join(',')}) is ignored. ` +
          'Choose another folder or delete this one to create a new model.',
      );
    }
  }
}

function copyFiles(files: ModelFiles): ModelFiles {
  const tensors: ModelFiles['tensors'] = {};
  for (const [name, t] of Object.entries(files.tensors)) tensors[name] = { shape: [...t.shape], data: new Float32Array(t.data) };
  return { manifest: JSON.parse(JSON.stringify(files.manifest)), tensors };
}
