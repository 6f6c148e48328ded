/**
 * The teaching page's gallery: per taught class, thumbnails of the frames it was taught from, when it was taught
 * and what the model called those frames at the time. Kept beside the model (the model format leaves other files
 * in its folder alone) in `teach-gallery/`: `gallery.json` and one picture file per thumbnail, so it survives
 * restarts and follows the model when the folder is copied.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const GALLERY_FOLDER = 'teach-gallery';
const INDEX = 'gallery.json';
/** Thumbnails kept per class (the newest); the model's example count is not limited by this. */
export const THUMBNAILS_PER_CLASS = 24;
/** gallery.json larger than this is not read (it holds names and dates only; 200 classes use about 1 MB). */
const MAX_INDEX_BYTES = 8 * 1024 * 1024;
const FILE_NAME = /^[0-9a-f]{16}\.(png|jpg)$/;

export interface GalleryExample {
  file: string;
  /** ISO time the frame was taught. */
  at: string;
  /** What the model called the frame when it was seen, and whether it counted as known. */
  calledAs: string;
  known: boolean;
  score: number;
}

export interface GalleryClass {
  label: string;
  taughtAt: string;
  updatedAt: string;
  /** Demonstrations taught from the page, all teachings together (thumbnails keep only the newest). */
  taught: number;
  examples: GalleryExample[];
}

export interface NewExample {
  picture: { data: Buffer; type: 'image/png' | 'image/jpeg' } | undefined;
  calledAs: string;
  known: boolean;
  score: number;
}

const OPEN = new WeakMap<object, Gallery>();

export class Gallery {
  readonly dir: string;
  private classes: GalleryClass[] = [];
  /** Writes run one after the other, in call order. */
  private writing: Promise<void> = Promise.resolve();

  private constructor(modelDir: string) {
    this.dir = path.join(modelDir, GALLERY_FOLDER);
  }

  /**
   * The gallery of a model: one per model node, so that several pages on one model share it (and its writes);
   * read from beside the model the first time.
   */
  static of(model: { dir: string }, warn: (text: string) => void): Gallery {
    let g = OPEN.get(model);
    if (!g) {
      g = Gallery.open(model.dir, warn);
      OPEN.set(model, g);
    }
    return g;
  }

  /** Reads the gallery beside the model in `modelDir`; a missing one is empty, an unreadable one is reported. */
  private static open(modelDir: string, warn: (text: string) => void): Gallery {
    const g = new Gallery(modelDir);
    const file = path.join(g.dir, INDEX);
    try {
      const size = fs.statSync(file).size;
      if (size > MAX_INDEX_BYTES) throw new Error(`it is ${size} bytes, more than the ${MAX_INDEX_BYTES} accepted`);
      g.classes = readIndex(JSON.parse(fs.readFileSync(file, 'utf8')));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        warn(`teaching gallery ${file} is not readable (${(err as Error).message}); starting an empty gallery, the file is kept until the next teaching`);
      }
    }
    return g;
  }

  list(): readonly GalleryClass[] {
    return this.classes;
  }

  get(label: string): GalleryClass | undefined {
    return this.classes.find((c) => c.label === label);
  }

  /** The path of a thumbnail file, or undefined for a name that is not one of ours. */
  filePath(name: string): string | undefined {
    return FILE_NAME.test(name) ? path.join(this.dir, name) : undefined;
  }

  /** Records a teaching of `label` from `examples` (their thumbnails are written now). */
  add(label: string, examples: readonly NewExample[], at = new Date()): Promise<GalleryClass> {
    return this.queue(async () => {
      await fs.promises.mkdir(this.dir, { recursive: true });
      const when = at.toISOString();
      const added: GalleryExample[] = [];
      for (const e of examples) {
        let file = '';
        if (e.picture) {
          file = `${randomBytes(8).toString('hex')}.${e.picture.type === 'image/png' ? 'png' : 'jpg'}`;
          await fs.promises.writeFile(path.join(this.dir, file), e.picture.data);
        }
        added.push({ file, at: when, calledAs: e.calledAs, known: e.known, score: e.score });
      }
      let entry = this.get(label);
      if (!entry) {
        entry = { label, taughtAt: when, updatedAt: when, taught: 0, examples: [] };
        this.classes.push(entry);
      }
      entry.updatedAt = when;
      entry.taught += examples.length;
      entry.examples.push(...added);
      const dropped = entry.examples.splice(0, Math.max(0, entry.examples.length - THUMBNAILS_PER_CLASS));
      await this.writeIndex();
      await this.removeFiles(dropped);
      return entry;
    });
  }

  forget(label: string): Promise<void> {
    return this.queue(async () => {
      const entry = this.get(label);
      if (!entry) return;
      this.classes = this.classes.filter((c) => c !== entry);
      await this.writeIndex();
      await this.removeFiles(entry.examples);
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.queue(async () => {
      const entry = this.get(from);
      if (!entry || from === to) return;
      // A class renamed onto a name with a stale gallery (e.g. taught elsewhere and forgotten) takes that name alone.
      const stale = this.get(to);
      if (stale) this.classes = this.classes.filter((c) => c !== stale);
      entry.label = to;
      await this.writeIndex();
      if (stale) await this.removeFiles(stale.examples);
    });
  }

  /** Drops the galleries of classes the model no longer has (forgotten or reset elsewhere). */
  keepOnly(labels: readonly string[]): Promise<void> {
    const gone = this.classes.filter((c) => !labels.includes(c.label));
    if (gone.length === 0) return this.writing;
    return this.queue(async () => {
      const stale = this.classes.filter((c) => !labels.includes(c.label));
      if (stale.length === 0) return;
      this.classes = this.classes.filter((c) => labels.includes(c.label));
      await this.writeIndex();
      for (const c of stale) await this.removeFiles(c.examples);
    });
  }

  /** Settles when every write asked for so far is done. */
  settled(): Promise<void> {
    return this.writing;
  }

  private queue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.writing.then(job);
    this.writing = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async writeIndex(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    const file = path.join(this.dir, INDEX);
    const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await fs.promises.writeFile(temp, `${JSON.stringify({ format: 'hff-teach-gallery', version: 1, classes: this.classes }, null, 1)}\n`);
    await fs.promises.rename(temp, file);
  }

  private async removeFiles(examples: readonly GalleryExample[]): Promise<void> {
    await Promise.all(examples.filter((e) => e.file !== '').map((e) => fs.promises.rm(path.join(this.dir, e.file), { force: true }).catch(() => undefined)));
  }
}

/** The classes of a gallery.json, checked field by field (it is a file a person may have edited). */
function readIndex(value: unknown): GalleryClass[] {
  const classes = (value as { classes?: unknown } | null)?.classes;
  if (!Array.isArray(classes)) throw new Error("it has no 'classes' list");
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  return classes
    .filter((c): c is Record<string, unknown> => c !== null && typeof c === 'object' && typeof c.label === 'string' && c.label !== '')
    .map((c) => ({
      label: c.label as string,
      taughtAt: text(c.taughtAt),
      updatedAt: text(c.updatedAt),
      taught: Number.isInteger(c.taught) ? (c.taught as number) : 0,
      examples: (Array.isArray(c.examples) ? c.examples : [])
        .filter((e): e is Record<string, unknown> => e !== null && typeof e === 'object')
        .map((e) => ({
          file: typeof e.file === 'string' && FILE_NAME.test(e.file) ? e.file : '',
          at: text(e.at),
          calledAs: text(e.calledAs),
          known: e.known === true,
          score: typeof e.score === 'number' && Number.isFinite(e.score) ? e.score : 0,
        })),
    }));
}
