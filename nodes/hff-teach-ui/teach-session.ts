/**
 * What the teaching page shows and does, free of Node-RED and HTTP: the recent frames (pictures and what the model
 * called each), the counts of predictions, the drift state, the classes with their galleries and warnings, and the
 * page's commands (teach selected frames, forget, rename, record), which go through the model node's controller
 * exactly as hff-teach's do. Every change is announced as an event the page server passes on to the browsers.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { HffNetwork } from '../../src/hff/network';
import { type Preview, type PreviewSize, picturePreviews, vectorPreviews } from '../../src/image/preview';
import type { ModelController } from '../hff-model/model-controller';
import { fleetFor } from '../shared/fleet-sync';
import type { Gallery, GalleryClass } from './gallery';

export interface SessionSettings {
  /** Frames a second shown on the page (and kept for teaching); the others are only counted. */
  framesPerSecond: number;
  /** Frames in the page's strip. */
  stripLength: number;
  /** Frames kept for teaching (the strip's and older ones still selected on a page). */
  keepFrames: number;
  /** Prediction counts cover this many minutes. */
  windowMinutes: number;
  /** Two classes whose prototypes (last layer) have a cosine above this are reported as too close. */
  closeCosine: number;
  live: PreviewSize;
  thumb: PreviewSize;
}

export const DEFAULT_SETTINGS: SessionSettings = {
  framesPerSecond: 4,
  stripLength: 24,
  keepFrames: 120,
  windowMinutes: 5,
  closeCosine: 0.8,
  live: { maxWidth: 960, maxHeight: 720 },
  thumb: { maxWidth: 128, maxHeight: 96 },
};

/** The longest class name the page accepts (names show in statuses, lists and file metadata). */
export const MAX_NAME_LENGTH = 60;
/** Names that break plain-object lookups in flows (e.g. counts[label]) are refused. */
const RESERVED_NAMES = ['__proto__', 'constructor', 'prototype'];
/** The most frames one recording keeps; it stops by itself there (or after RECORD_MAX_MS). */
export const RECORD_MAX_FRAMES = 60;
const RECORD_MAX_MS = 60_000;
const RECENT_PER_CLASS = 4;
const BUCKET_MS = 10_000;
const STATS_INTERVAL_MS = 2000;

export interface FramePrediction {
  label: string;
  score: number;
  known: boolean;
  margin?: number;
}

export interface FrameInput {
  prediction: FramePrediction;
  /** The model input the prediction was made from (what teaching uses). */
  vector: Float32Array;
  /** The camera payload (JPEG/PNG bytes, sensor_msgs image) when the message carries it. */
  picture?: unknown;
  /** The image shape (height, width, channels) of `vector`, to draw it when there is no picture. */
  shape?: [number, number, number];
}

interface Frame extends FramePrediction {
  id: string;
  at: number;
  vector: Float32Array;
  live?: Preview;
  thumb?: Preview;
}

/** A refused page command: shown on the page as it is, with the HTTP status that fits. */
export class PageError extends Error {
  constructor(
    message: string,
    readonly status = 400,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface FrameView {
  id: string;
  at: number;
  label: string;
  score: number;
  known: boolean;
  picture: boolean;
}

export interface ClassView {
  label: string;
  index: number;
  kind: 'taught' | 'trained';
  examples: number;
  taughtAt?: string;
  updatedAt?: string;
  /** Gallery thumbnails (file names) of the frames taught from the page, newest last. */
  gallery: { file: string; calledAs: string; known: boolean }[];
  /** A few recent frames recognised as this class. */
  recent: FrameView[];
  predicted: number;
  warnings: string[];
}

export interface ActivityEntry {
  at: number;
  text: string;
  level: 'info' | 'warning';
}

export interface TeachOutcome {
  action: 'teach';
  label: string;
  created: boolean;
  count: number;
  applied: number;
  examples: number;
  /** Taught frames the model now recognises as the class. */
  recognised: number;
  frames: string[];
  version: number;
  warnings: string[];
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return `the text ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value}`;
}

/** A class name as the page may give it: checked, trimmed. */
export function checkClassName(value: unknown, what = 'the class name'): string {
  if (typeof value !== 'string') throw new PageError(`${what} must be text, got ${describe(value)}`);
  const name = value.trim();
  if (name === '') throw new PageError(`${what} is empty: type the name of the part (1 to ${MAX_NAME_LENGTH} characters)`);
  if (name.length > MAX_NAME_LENGTH) {
    throw new PageError(`${what} has ${name.length} characters: give at most ${MAX_NAME_LENGTH}`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name))
    throw new PageError(`${what} contains control characters (line breaks, tabs): use letters, digits, spaces and punctuation`);
  if (RESERVED_NAMES.includes(name)) {
    throw new PageError(
      `'${name}' cannot be a class name (it is reserved in JavaScript objects and would break flows that look classes up by name): choose another name`,
    );
  }
  return name;
}

/** Per class and layer-last prototype rows, the largest cosine between two classes' prototypes. */
function closestPairs(net: HffNetwork, threshold: number): { a: string; b: string; cosine: number }[] {
  const prototypes = net.readPrototypes();
  const p = prototypes[prototypes.length - 1];
  const k = net.classes.length;
  if (k < 2) return [];
  const m = net.config.prototypesPerClass;
  const units = p.length / (k * m);
  const pairs: { a: string; b: string; cosine: number }[] = [];
  for (let a = 0; a < k; a++) {
    for (let b = a + 1; b < k; b++) {
      let best = -1;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < m; j++) {
          let s = 0;
          const ra = (a * m + i) * units;
          const rb = (b * m + j) * units;
          for (let u = 0; u < units; u++) s += p[ra + u] * p[rb + u];
          best = Math.max(best, s);
        }
      }
      if (best > threshold) pairs.push({ a: net.classes[a], b: net.classes[b], cosine: best });
    }
  }
  return pairs;
}

export class TeachSession {
  readonly settings: SessionSettings;
  /** Changes with every session, so frames selected on a page before a redeploy count as expired. */
  readonly token = randomBytes(3).toString('hex');
  private readonly events = new EventEmitter();
  private readonly frames = new Map<string, Frame>();
  private readonly recent = new Map<string, Frame[]>();
  private recording?: { frames: Frame[]; timer: NodeJS.Timeout };
  private recorded: Frame[] = [];
  private next = 1;
  private lastSampleAt = -Infinity;
  private sampling = false;
  private buckets: { start: number; counts: Map<string, number>; unknown: number; frames: number }[] = [];
  private statsChanged = false;
  private readonly statsTimer: NodeJS.Timeout;
  private drift?: Record<string, unknown>;
  private readonly activity: ActivityEntry[] = [];
  private last?: FrameView;
  private closed = false;

  constructor(
    private readonly model: ModelController,
    private readonly gallery: Gallery,
    settings: Partial<SessionSettings> = {},
  ) {
    this.settings = { ...DEFAULT_SETTINGS, ...settings };
    this.settings.keepFrames = Math.max(this.settings.keepFrames, this.settings.stripLength);
    this.events.setMaxListeners(0);
    this.statsTimer = setInterval(() => {
      if (!this.statsChanged) return;
      this.statsChanged = false;
      this.emit('stats', this.stats());
    }, STATS_INTERVAL_MS);
    this.statsTimer.unref();
  }

  /** Subscribes to the page events (name, data); returns the unsubscribe function. */
  onEvent(listener: (name: string, data: unknown) => void): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }

  /**
   * Takes one classified frame: counted always, kept and shown when the page's frame rate allows (then the returned
   * promise settles once its pictures are made; it rejects when the picture cannot be read).
   */
  offer(input: FrameInput, now = Date.now()): Promise<void> | undefined {
    if (this.closed) return undefined;
    this.count(input.prediction, now);
    if (this.sampling || now - this.lastSampleAt < 1000 / this.settings.framesPerSecond) return undefined;
    this.sampling = true;
    this.lastSampleAt = now;
    return this.keep(input, now).finally(() => {
      this.sampling = false;
    });
  }

  /** The drift state from an hff-drift node's msg.drift. */
  setDrift(drift: Record<string, unknown>): void {
    const view = {
      state: ['ok', 'warning', 'drift'].includes(String(drift.state)) ? String(drift.state) : 'ok',
      drifts: Number(drift.drifts) || 0,
      n: Number(drift.n) || 0,
      detector: typeof drift.detector === 'string' ? drift.detector : '',
      at: Date.now(),
    };
    const changed = !this.drift || this.drift.state !== view.state || this.drift.drifts !== view.drifts;
    this.drift = view;
    if (changed) this.emit('drift', view);
  }

  /** Everything a page needs when it (re)connects. */
  snapshot(): Record<string, unknown> {
    const strip = [...this.frames.values()].slice(-this.settings.stripLength).map(view);
    return {
      token: this.token,
      model: this.model.label,
      settings: {
        stripLength: this.settings.stripLength,
        windowMinutes: this.settings.windowMinutes,
        framesPerSecond: this.settings.framesPerSecond,
        maxNameLength: MAX_NAME_LENGTH,
      },
      strip,
      last: this.last,
      recording: this.recordingView(),
      stats: this.stats(),
      drift: this.drift ?? null,
      activity: this.activity,
      ...this.classesView(),
    };
  }

  /** A kept frame's picture: 'live' (the large one) or 'thumb'. */
  picture(id: string, kind: 'live' | 'thumb'): Preview | undefined {
    const frame = this.find(id);
    return kind === 'live' ? frame?.live : frame?.thumb;
  }

  galleryFile(name: string): string | undefined {
    return this.gallery.filePath(name);
  }

  /** Teaches `label` from the kept frames `ids`; refuses bad input with a PageError before changing anything. */
  async teach(labelValue: unknown, ids: unknown): Promise<TeachOutcome> {
    const label = checkClassName(labelValue);
    if (!Array.isArray(ids) || ids.length === 0) {
      throw new PageError('no frames are selected: tap frames in the strip (or hold Record while the part turns in front of the camera), then press Teach');
    }
    if (ids.length > this.settings.keepFrames + RECORD_MAX_FRAMES) {
      throw new PageError(`${ids.length} frames are selected; at most ${this.settings.keepFrames + RECORD_MAX_FRAMES} can be taught at once`);
    }
    if (ids.some((id) => typeof id !== 'string')) throw new PageError('frames must be given by their ids (text), as the page sends them');
    const unique = [...new Set(ids as string[])];
    const expired = unique.filter((id) => !this.find(id));
    if (expired.length > 0) {
      throw new PageError(
        `${expired.length} of the ${unique.length} selected frames ${expired.length === 1 ? 'has' : 'have'} expired (the page keeps the last ${this.settings.keepFrames} frames, ` +
          `about ${Math.round(this.settings.keepFrames / this.settings.framesPerSecond)} s, and a restart or redeploy starts over): nothing was taught; select frames again`,
        409,
        { expired },
      );
    }
    const frames = unique.map((id) => this.find(id) as Frame);
    const net = await this.model.ready();
    this.model.assertIdle(`teach class '${label}'`);
    const size = net.inputSize;
    const wrong = frames.find((f) => f.vector.length !== size);
    if (wrong) {
      throw new PageError(
        `frame ${wrong.id} holds ${wrong.vector.length} values but model ${this.model.label} takes ${size}: the model changed since the frame was seen; select newer frames`,
        409,
      );
    }
    const examples = new Float32Array(frames.length * size);
    frames.forEach((f, i) => examples.set(f.vector, i * size));
    const r = net.teach(label, examples, frames.length);
    fleetFor(this.model)?.publishLocal(r);
    this.model.learned();
    const recognised = net.predict(examples, frames.length).filter((p) => p.known && p.label === r.label).length;
    const warnings: string[] = [];
    const calledElse = this.calledElse(
      frames.map((f) => ({ calledAs: f.label, known: f.known })),
      r.label,
    );
    if (calledElse) warnings.push(calledElse);
    if (recognised < frames.length) warnings.push(`only ${recognised} of the ${frames.length} taught frames are now recognised as '${r.label}'`);
    try {
      await this.gallery.add(
        r.label,
        frames.map((f) => ({ picture: f.thumb, calledAs: f.label, known: f.known, score: f.score })),
      );
    } catch (err) {
      warnings.push(`the thumbnails could not be saved in ${this.gallery.dir}: ${(err as Error).message}`);
    }
    const outcome: TeachOutcome = {
      action: 'teach',
      label: r.label,
      created: r.created,
      count: r.count,
      applied: r.applied,
      examples: frames.length,
      recognised,
      frames: unique,
      version: r.version,
      warnings,
    };
    const what = r.created ? `created class '${r.label}' from ${frames.length} frames` : `updated class '${r.label}' with ${frames.length} frames`;
    this.log(`${what}; it holds ${r.count} examples`, 'info');
    for (const w of warnings) this.log(`'${r.label}': ${w}`, 'warning');
    this.emit('taught', outcome);
    this.classesChanged();
    return outcome;
  }

  async forget(labelValue: unknown): Promise<{ action: 'forget'; label: string; version: number }> {
    const net = await this.model.ready();
    const label = this.existingClass(net, labelValue);
    this.model.assertIdle(`forget class '${label}'`);
    const gone = net.forgetClass(label);
    this.model.learned();
    this.recent.delete(label);
    await this.gallery.forget(label);
    this.log(`forgot class '${gone.label}'`, 'info');
    this.classesChanged();
    return { action: 'forget', label: gone.label, version: gone.version };
  }

  async rename(labelValue: unknown, toValue: unknown): Promise<{ action: 'rename'; label: string; previous: string; version: number }> {
    const net = await this.model.ready();
    const from = this.existingClass(net, labelValue);
    const to = checkClassName(toValue, 'the new name');
    if (to !== from && net.classIndex(to) !== undefined)
      throw new PageError(`a class named '${to}' exists already: choose another name (or forget that class first)`, 409);
    const renamed = net.renameClass(from, to);
    this.model.learned();
    const recent = this.recent.get(from);
    this.recent.delete(from);
    if (recent) this.recent.set(to, recent);
    // The class's predictions so far count under its new name.
    for (const b of this.buckets) {
      const n = b.counts.get(from);
      if (n === undefined) continue;
      b.counts.delete(from);
      b.counts.set(to, (b.counts.get(to) ?? 0) + n);
    }
    this.statsChanged = true;
    await this.gallery.rename(from, to);
    this.log(`renamed class '${from}' to '${to}'`, 'info');
    this.classesChanged();
    return { action: 'rename', label: renamed.label, previous: renamed.previous, version: renamed.version };
  }

  /** Starts or stops recording: while on, every frame kept for the page is also collected, up to RECORD_MAX_FRAMES. */
  record(on: unknown): { recording: boolean; frames: string[] } {
    if (typeof on !== 'boolean') throw new PageError(`'on' must be true (start recording) or false (stop), got ${describe(on)}`);
    if (on && !this.recording) {
      this.recorded = [];
      const timer = setTimeout(() => this.stopRecording(), RECORD_MAX_MS);
      timer.unref();
      this.recording = { frames: [], timer };
      this.emit('recording', this.recordingView());
    } else if (!on) {
      this.stopRecording();
    }
    return this.recordingView();
  }

  /** Call when the model's classes may have changed elsewhere (hff-teach, fleet, reset). */
  modelChanged(): void {
    const net = this.model.readyNetwork;
    if (!net) return;
    for (const label of [...this.recent.keys()]) if (!net.classes.includes(label)) this.recent.delete(label);
    this.gallery.keepOnly(net.classes).catch(() => undefined);
    this.classesChanged();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.statsTimer);
    if (this.recording) clearTimeout(this.recording.timer);
    this.recording = undefined;
    this.emit('closing', {});
    this.events.removeAllListeners();
  }

  private async keep(input: FrameInput, now: number): Promise<void> {
    const sizes = [this.settings.live, this.settings.thumb];
    let pictures = input.picture === undefined ? undefined : await picturePreviews(input.picture, sizes);
    if (!pictures && input.shape) pictures = await vectorPreviews(input.vector, input.shape, sizes);
    if (this.closed) return;
    const p = input.prediction;
    const frame: Frame = {
      id: `${this.token}-${this.next++}`,
      at: now,
      label: p.label,
      score: p.score,
      known: p.known,
      margin: p.margin,
      // The message's vector may be reused by later nodes: the page keeps its own copy.
      vector: Float32Array.from(input.vector),
      live: pictures?.[0],
      thumb: pictures?.[1],
    };
    this.frames.set(frame.id, frame);
    while (this.frames.size > this.settings.keepFrames) this.frames.delete(this.frames.keys().next().value as string);
    if (frame.known) {
      const list = this.recent.get(frame.label) ?? [];
      list.push(frame);
      if (list.length > RECENT_PER_CLASS) list.shift();
      this.recent.set(frame.label, list);
    }
    if (this.recording) {
      this.recording.frames.push(frame);
      if (this.recording.frames.length >= RECORD_MAX_FRAMES) this.stopRecording();
      else this.emit('recording', this.recordingView());
    }
    this.last = view(frame);
    this.emit('frame', this.last);
  }

  private stopRecording(): void {
    if (!this.recording) return;
    clearTimeout(this.recording.timer);
    this.recorded = this.recording.frames;
    this.recording = undefined;
    this.emit('recording', this.recordingView());
  }

  private recordingView(): { recording: boolean; frames: string[] } {
    return { recording: !!this.recording, frames: (this.recording?.frames ?? this.recorded).map((f) => f.id) };
  }

  private find(id: string): Frame | undefined {
    const kept = this.frames.get(id);
    if (kept) return kept;
    const inRecording = (this.recording?.frames ?? this.recorded).find((f) => f.id === id);
    if (inRecording) return inRecording;
    for (const list of this.recent.values()) {
      const f = list.find((x) => x.id === id);
      if (f) return f;
    }
    return undefined;
  }

  private existingClass(net: HffNetwork, value: unknown): string {
    const label = checkClassName(value);
    if (net.classIndex(label) === undefined) {
      throw new PageError(`model ${this.model.label} has no class '${label}' (its classes: ${net.classes.join(', ') || 'none'})`, 404);
    }
    return label;
  }

  private count(p: FramePrediction, now: number): void {
    const start = now - (now % BUCKET_MS);
    let bucket = this.buckets[this.buckets.length - 1];
    if (!bucket || bucket.start !== start) {
      bucket = { start, counts: new Map(), unknown: 0, frames: 0 };
      this.buckets.push(bucket);
      const oldest = now - this.settings.windowMinutes * 60_000;
      while (this.buckets.length > 0 && this.buckets[0].start + BUCKET_MS <= oldest) this.buckets.shift();
    }
    bucket.frames += 1;
    if (p.known) bucket.counts.set(p.label, (bucket.counts.get(p.label) ?? 0) + 1);
    else bucket.unknown += 1;
    this.statsChanged = true;
  }

  private stats(): { frames: number; unknown: number; perClass: { label: string; count: number }[]; windowMinutes: number } {
    const oldest = Date.now() - this.settings.windowMinutes * 60_000;
    const per = new Map<string, number>();
    let frames = 0;
    let unknown = 0;
    for (const b of this.buckets) {
      if (b.start + BUCKET_MS <= oldest) continue;
      frames += b.frames;
      unknown += b.unknown;
      for (const [label, n] of b.counts) per.set(label, (per.get(label) ?? 0) + n);
    }
    const perClass = [...per.entries()].map(([label, count]) => ({ label, count })).sort((a, b) => b.count - a.count);
    return { frames, unknown, perClass, windowMinutes: this.settings.windowMinutes };
  }

  /** The warning for demonstrations the model confidently called another class, if any. */
  private calledElse(frames: { calledAs: string; known: boolean }[], label: string): string | undefined {
    const other = new Map<string, number>();
    for (const f of frames) if (f.known && f.calledAs !== label) other.set(f.calledAs, (other.get(f.calledAs) ?? 0) + 1);
    if (other.size === 0) return undefined;
    const list = [...other.entries()].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${n} as '${name}'`);
    const n = [...other.values()].reduce((a, b) => a + b, 0);
    return `taught from ${n} of ${frames.length} frames the model recognised as another class (${list.join(', ')}): check they show this part`;
  }

  private classesView(): { classes: ClassView[]; close: { a: string; b: string; cosine: number }[]; modelState: string } {
    const net = this.model.readyNetwork;
    const state = this.model.state;
    const modelState = state.busy ? `busy: ${state.busy}` : state.phase === 'error' ? `error: ${state.error}` : state.phase;
    if (!net) return { classes: [], close: [], modelState };
    const stats = this.stats();
    const taught = new Set(net.taughtClassNames());
    const close = closestPairs(net, this.settings.closeCosine);
    const classes = net.classes.map((label, index): ClassView => {
      const g: GalleryClass | undefined = this.gallery.get(label);
      const warnings = close
        .filter((c) => c.a === label || c.b === label)
        .map((c) => `too close to '${c.a === label ? c.b : c.a}' (prototype cosine ${c.cosine.toFixed(2)}): the model may mix them up`);
      if (g) {
        const w = this.calledElse(g.examples, label);
        if (w) warnings.push(w);
      }
      return {
        label,
        index,
        kind: taught.has(label) ? 'taught' : 'trained',
        examples: net.counts[index],
        taughtAt: g?.taughtAt,
        updatedAt: g?.updatedAt,
        gallery: (g?.examples ?? []).filter((e) => e.file !== '').map((e) => ({ file: e.file, calledAs: e.calledAs, known: e.known })),
        recent: (this.recent.get(label) ?? []).map(view),
        predicted: stats.perClass.find((c) => c.label === label)?.count ?? 0,
        warnings,
      };
    });
    return { classes, close, modelState };
  }

  private classesChanged(): void {
    this.emit('classes', this.classesView());
  }

  private log(text: string, level: ActivityEntry['level']): void {
    const entry = { at: Date.now(), text, level };
    this.activity.push(entry);
    if (this.activity.length > 20) this.activity.shift();
    this.emit('activity', entry);
  }

  private emit(name: string, data: unknown): void {
    this.events.emit('event', name, data);
  }
}

function view(f: Frame): FrameView {
  return { id: f.id, at: f.at, label: f.label, score: f.score, known: f.known, picture: !!f.live };
}
