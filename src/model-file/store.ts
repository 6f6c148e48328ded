import * as path from 'node:path';
import { ModelFiles } from './format';
import { loadModelFiles, modelExists } from './load';
import { prepareModelFiles, SaveHooks, writePreparedModel } from './save';

export interface ModelStoreOptions {
  /**
   * How long scheduleSave waits before writing, in ms. Default 1000. The wait starts at the first call after the
   * last write and is NOT extended by later calls, so a model that learns continuously is still saved regularly.
   */
  debounceMs?: number;
  /**
   * Receives failures of saves started by the scheduleSave timer, which have no caller to reject. Without it the
   * failure is kept and thrown by the next flush().
   */
  onError?: (error: Error) => void;
  /** @internal Passed to every save; lets tests observe or interrupt writes. */
  hooks?: SaveHooks;
}

/**
 * One model directory with a single writer: saves run one at a time in call order, so a slow write can never be
 * overtaken by (and then overwrite) a newer one.
 */
export class ModelStore {
  readonly dir: string;
  readonly debounceMs: number;
  private readonly onError?: (error: Error) => void;
  private readonly hooks: SaveHooks;
  /** Settles when every queued write has finished; never rejects, so one failure does not block later saves. */
  private tail: Promise<void> = Promise.resolve();
  private pending?: () => ModelFiles;
  private timer?: NodeJS.Timeout;
  private unreportedError?: Error;

  constructor(dir: string, options: ModelStoreOptions = {}) {
    if (typeof dir !== 'string' || dir.length === 0) throw new Error('ModelStore: a model directory path is required');
    this.dir = path.resolve(dir);
    const debounceMs = options.debounceMs ?? 1000;
    if (typeof debounceMs !== 'number' || !Number.isFinite(debounceMs) || debounceMs < 0) {
      throw new Error(`ModelStore for ${this.dir}: option 'debounceMs' must be a number of milliseconds >= 0, got ${String(debounceMs)}`);
    }
    this.debounceMs = debounceMs;
    this.onError = options.onError;
    this.hooks = options.hooks ?? {};
  }

  /**
   * Queues a write of `files`. The model is checked and copied immediately, so the caller may keep training on
   * the same arrays; an invalid model rejects without being queued.
   */
  save(files: ModelFiles): Promise<void> {
    let prepared;
    try {
      prepared = prepareModelFiles(this.dir, files);
    } catch (error) {
      return Promise.reject(error);
    }
    const ready = prepared;
    return this.enqueue(() => writePreparedModel(this.dir, ready, this.hooks));
  }

  /**
   * Asks for a save soon. Calls before the write coalesce into one; only the latest `get` is used, and it is
   * called when the write starts so the freshest model is stored.
   */
  scheduleSave(get: () => ModelFiles): void {
    if (typeof get !== 'function') throw new Error(`ModelStore for ${this.dir}: scheduleSave needs a function returning the model`);
    this.pending = get;
    if (this.timer === undefined) {
      // Not unref'd: a short-lived process (e.g. the CLI) should finish a pending save rather than lose it.
      this.timer = setTimeout(() => {
        this.startPending()?.catch((error: Error) => this.report(error));
      }, this.debounceMs);
    }
  }

  /** Writes any pending scheduled save now and waits for every queued write. Rejects if a scheduled save failed. */
  async flush(): Promise<void> {
    const scheduled = this.startPending();
    await this.tail;
    if (scheduled) await scheduled;
    const earlier = this.unreportedError;
    if (earlier) {
      this.unreportedError = undefined;
      throw earlier;
    }
  }

  /** Loads the model as it will be once the writes already queued have finished. */
  async load(): Promise<ModelFiles> {
    await this.tail;
    return loadModelFiles(this.dir);
  }

  exists(): boolean {
    return modelExists(this.dir);
  }

  private startPending(): Promise<void> | undefined {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const get = this.pending;
    this.pending = undefined;
    if (!get) return undefined;
    return this.enqueue(async () => {
      let files: ModelFiles;
      try {
        files = get();
      } catch (error) {
        throw new Error(`Saving model to ${this.dir} failed: the scheduled save could not get the model: ${(error as Error).message}`, {
          cause: error,
        });
      }
      await writePreparedModel(this.dir, prepareModelFiles(this.dir, files), this.hooks);
    });
  }

  private enqueue(job: () => Promise<void>): Promise<void> {
    const run = this.tail.then(job);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private report(error: Error): void {
    if (this.onError) this.onError(error);
    else this.unreportedError = error;
  }
}
