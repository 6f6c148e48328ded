/**
 * A one-line training progress bar on stderr: epoch, batch, ETA, loss and running accuracy, redrawn in place
 * with a carriage return at most every `minIntervalMs`. Drawn only when stderr is a terminal.
 */
import type { TrainProgress } from '../hff/training';

export interface ProgressBarOptions {
  write: (text: string) => void;
  /** Terminal width; the line is cut to fit. */
  columns?: number;
  /** Minimum time between redraws (default 100 ms, so at most ~10 redraws a second). */
  minIntervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/** "1:02:03", "4:05", "0:07"; "?" when unknown. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

/** The bar's text for one progress report (no carriage return). */
export function renderProgress(p: TrainProgress, width = 24): string {
  const fraction = p.batches > 0 ? p.batch / p.batches : 0;
  const filled = Math.min(width, Math.floor(fraction * width));
  const bar = '='.repeat(filled) + (filled < width ? '>' : '') + ' '.repeat(Math.max(0, width - filled - 1));
  const digits = String(p.batches).length;
  return (
    `epoch ${p.epoch}/${p.epochs} [${bar}] ${String(p.batch).padStart(digits)}/${p.batches} ` +
    `| ETA ${formatDuration(p.etaMs)} | loss ${Number.isFinite(p.loss) ? p.loss.toFixed(4) : '?'} ` +
    `| acc ${(100 * p.accuracy).toFixed(2)}%`
  );
}

export class ProgressBar {
  private readonly write: (text: string) => void;
  private readonly columns?: number;
  private readonly minIntervalMs: number;
  private readonly now: () => number;
  private lastDraw = -Infinity;
  private lastLength = 0;
  private open = false;

  constructor(options: ProgressBarOptions) {
    this.write = options.write;
    this.columns = options.columns;
    this.minIntervalMs = options.minIntervalMs ?? 100;
    this.now = options.now ?? Date.now;
  }

  /** Redraws unless the last redraw was too recent; the end of an epoch is always drawn and kept on its line. */
  update(p: TrainProgress): void {
    const endOfEpoch = p.batch >= p.batches;
    const t = this.now();
    if (!endOfEpoch && t - this.lastDraw < this.minIntervalMs) return;
    this.lastDraw = t;
    let line = renderProgress(p);
    if (this.columns && this.columns > 1 && line.length > this.columns - 1) line = line.slice(0, this.columns - 1);
    // Pad over the previous, possibly longer, line instead of relying on terminal escape codes.
    this.write(`\r${line}${' '.repeat(Math.max(0, this.lastLength - line.length))}`);
    this.lastLength = line.length;
    this.open = true;
    if (endOfEpoch) this.finishLine();
  }

  /** Ends the current line so that later messages start on a fresh one. */
  finishLine(): void {
    if (!this.open) return;
    this.write('\n');
    this.open = false;
    this.lastLength = 0;
  }
}
