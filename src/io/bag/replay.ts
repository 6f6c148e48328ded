import type { McapTypes } from '@mcap/core';
import { BagReader, type BagInfo, type BagMessage } from './reader';

export interface ReplayOptions {
  /** Topics to replay; default every decodable topic. */
  topics?: readonly string[];
  /**
   * 1 = recorded speed, 2 = twice as fast, 0.5 = half speed; 0 or 'max' = as fast as `onMessage`
   * settles (each call is awaited, so a slow consumer throttles the replay instead of queueing).
   */
  speed?: number | 'max';
  /** Seconds from the bag's first message to start from. */
  start?: number;
  /** Seconds from the bag's first message to stop at. */
  end?: number;
  /** true = repeat until stopped; a number = total passes (1 = play once, the default). */
  loop?: boolean | number;
  /** Decode payloads (default true); with false only `raw` is filled. */
  decode?: boolean;
  /** Receives each message in log-time order; a returned promise is awaited before the next one. */
  onMessage: (message: BagMessage) => void | Promise<void>;
  decompressHandlers?: McapTypes.DecompressHandlers;
}

export interface ReplaySummary {
  /** Messages handed to `onMessage`. */
  messages: number;
  /** Passes completed in full. */
  passes: number;
  /** True when `stop()` ended the replay before it finished. */
  stopped: boolean;
}

export interface BagReplay {
  /** Resolves when the replay ends (finished or stopped); rejects on read/decode/consumer errors. */
  readonly done: Promise<ReplaySummary>;
  /** Summary of the opened bag (resolves once it is open). */
  readonly info: Promise<BagInfo>;
  /** Live counters. */
  readonly progress: Readonly<ReplaySummary>;
  /** Ends the replay now: pending waits are cancelled, the file is closed. Resolves with the summary. */
  stop(): Promise<ReplaySummary>;
}

const MAX_TIMER_MS = 2_000_000_000;

function parseSpeed(speed: ReplayOptions['speed']): number {
  if (speed === undefined) return 1;
  if (speed === 'max') return 0;
  if (typeof speed !== 'number' || !Number.isFinite(speed) || speed < 0) {
    throw new Error(`Replay speed must be a number >= 0 or 'max', got ${String(speed)}`);
  }
  return speed;
}

function parsePasses(loop: ReplayOptions['loop']): number {
  if (loop === undefined || loop === false) return 1;
  if (loop === true) return Infinity;
  if (!Number.isInteger(loop) || loop < 1) throw new Error(`Replay loop must be true, false or a pass count >= 1, got ${String(loop)}`);
  return loop;
}

/**
 * Replays messages of an open reader. The reader stays open afterwards (the caller owns it);
 * `replayBag` is the variant that opens and closes the file itself.
 */
export function replayReader(reader: BagReader, options: ReplayOptions): BagReplay {
  return startReplay(Promise.resolve(reader), options, false);
}

/** Opens a bag file and replays it; the file is closed when the replay ends or is stopped. */
export function replayBag(bagPath: string, options: ReplayOptions): BagReplay {
  return startReplay(
    Promise.resolve().then(() => BagReader.open(bagPath, { decompressHandlers: options.decompressHandlers })),
    options,
    true,
  );
}

function startReplay(readerPromise: Promise<BagReader>, options: ReplayOptions, ownsReader: boolean): BagReplay {
  if (typeof options?.onMessage !== 'function') throw new Error('replay needs an onMessage(message) callback');
  const speed = parseSpeed(options.speed);
  const passes = parsePasses(options.loop);
  const progress: ReplaySummary = { messages: 0, passes: 0, stopped: false };

  let stopRequested = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  // Resolves when stop() is called, so awaits on slow consumers can be abandoned promptly.
  let signalStop: () => void = () => {};
  const stopSignal = new Promise<void>((resolve) => {
    signalStop = resolve;
  });

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      wake = resolve;
      timer = setTimeout(
        () => {
          timer = undefined;
          wake = undefined;
          resolve();
        },
        Math.min(ms, MAX_TIMER_MS),
      );
    });

  const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  const run = async (): Promise<ReplaySummary> => {
    const reader = await readerPromise;
    try {
      // Validate topics before the first pass so a typo fails fast instead of replaying nothing.
      reader.selectTopics(options.topics, options.decode !== false);
      const passStartNs = reader.info.startTime + (options.start ? BigInt(Math.round(options.start * 1e9)) : 0n);
      for (let pass = 0; pass < passes && !stopRequested; pass++) {
        const wallStart = performance.now();
        let lastYield = performance.now();
        let delivered = 0;
        const iterator = reader.messages({ topics: options.topics, start: options.start, end: options.end, decode: options.decode });
        try {
          for await (const message of iterator) {
            if (stopRequested) break;
            if (speed > 0) {
              const due = wallStart + Number(message.logTime - passStartNs) / 1e6 / speed;
              const wait = due - performance.now();
              if (wait > 1) {
                await sleep(wait);
                if (stopRequested) break;
              }
            } else if (performance.now() - lastYield > 20) {
              // At 'max' speed, let timers and I/O of the rest of the process run now and then.
              await yieldToEventLoop();
              lastYield = performance.now();
              if (stopRequested) break;
            }
            const result = options.onMessage(message);
            progress.messages++;
            delivered++;
            if (result && typeof (result as Promise<void>).then === 'function') {
              await Promise.race([result, stopSignal]);
            }
          }
        } finally {
          await iterator.return(undefined);
        }
        if (!stopRequested) progress.passes++;
        // A window with no messages would otherwise spin forever when looping.
        if (delivered === 0) break;
      }
      progress.stopped = stopRequested;
      return { ...progress };
    } finally {
      if (ownsReader) await reader.close();
    }
  };

  const done = run();
  const info = readerPromise.then((r) => r.info);
  // Callers that only use stop() (or never look at info) must not get unhandled rejections.
  done.catch(() => undefined);
  info.catch(() => undefined);

  return {
    done,
    info,
    progress,
    async stop(): Promise<ReplaySummary> {
      stopRequested = true;
      signalStop();
      if (timer) {
        clearTimeout(timer);
        timer = undefined;
      }
      wake?.();
      wake = undefined;
      try {
        return await done;
      } catch {
        return { ...progress, stopped: true };
      }
    },
  };
}
