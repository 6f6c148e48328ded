/** Settings of hff-bag-in / hff-bag-out, validated (free of Node-RED). */
import * as path from 'node:path';
import type { ReplayOptions } from '../../../src/io';
import { numberSetting } from '../settings';

export type SpeedMode = 'recorded' | 'multiple' | 'max';

export interface BagInDef {
  file?: string;
  topics?: string;
  speedMode?: string;
  factor?: string | number;
  start?: string | number;
  end?: string | number;
  loop?: boolean | string;
  autostart?: boolean | string;
  busyTimeout?: string | number;
}

/** What a run of hff-bag-in uses; a 'start' message may override any of it. */
export interface BagInRun {
  file: string;
  topics?: string[];
  speed: number | 'max';
  start?: number;
  end?: number;
  loop: boolean;
}

function bool(v: unknown, fallback: boolean): boolean {
  if (v === undefined || v === null || v === '') return fallback;
  return v === true || v === 'true';
}

function optionalSeconds(v: unknown, what: string): number | undefined {
  return numberSetting(v, `${what} (seconds)`, { min: 0 });
}

export function parseTopics(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const list = Array.isArray(v) ? v.map(String) : String(v).split(/[\s,]+/);
  const topics = list.map((s) => s.trim()).filter((s) => s !== '');
  return topics.length ? topics : undefined;
}

/** Replay speed from a mode and factor: 1, the factor, or 'max'. */
export function parseSpeed(mode: unknown, factor: unknown): number | 'max' {
  const m = String(mode ?? 'recorded');
  if (m === 'max') return 'max';
  if (m === 'recorded' || m === '') return 1;
  if (m !== 'multiple') throw new Error(`speed must be recorded, multiple or max, got '${m}'`);
  const f = numberSetting(factor, 'speed factor', { min: 0, aboveMin: true });
  if (f === undefined) throw new Error('speed factor must be a number > 0, got nothing');
  return f;
}

/** Relative paths are taken from the Node-RED user directory; {timestamp} becomes the current time. */
export function resolveBagPath(file: string, userDir: string | undefined, now = new Date()): string {
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const expanded = file.trim().replace(/\{timestamp\}/g, stamp);
  if (expanded === '') throw new Error('no bag file is set: enter a path such as bags/demo.mcap');
  return path.resolve(userDir ?? process.cwd(), expanded);
}

export function bagInRun(def: BagInDef, userDir: string | undefined, override: Record<string, unknown> = {}): BagInRun {
  const file = resolveBagPath(String(override.file ?? def.file ?? ''), userDir);
  const speed =
    override.speed !== undefined
      ? override.speed === 'max' || override.speed === 0
        ? 'max'
        : parseSpeed('multiple', override.speed)
      : parseSpeed(def.speedMode, def.factor);
  const start = optionalSeconds(override.start ?? def.start, 'start');
  const end = optionalSeconds(override.end ?? def.end, 'stop');
  if (start !== undefined && end !== undefined && end < start) throw new Error(`stop (${end} s) is before start (${start} s)`);
  return {
    file,
    topics: parseTopics(override.topics ?? def.topics),
    speed,
    start,
    end,
    loop: bool(override.loop ?? def.loop, false),
  };
}

export function replayOptions(run: BagInRun): Omit<ReplayOptions, 'onMessage'> {
  return { topics: run.topics, speed: run.speed, start: run.start, end: run.end, loop: run.loop };
}

export function busyTimeoutMs(v: unknown): number {
  return (optionalSeconds(v, 'busy timeout') ?? 10) * 1000;
}

export { bool as flag };
