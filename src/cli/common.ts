/**
 * Shared pieces of the `hff` command line: where output goes, option parsers that turn bad values into usage
 * errors, and small formatting helpers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { BACKEND_CHOICES, createEngine } from '../engines/backend';
import type { Engine } from '../engines/types';
import { type LayerOption, parseLayerStack } from '../hff/config';
import { DATASET_NAMES } from '../datasets/types';

/** Where a command writes. Tests pass their own to capture output; the binary uses the process streams. */
export interface CliIO {
  /** Standard output (results: human text, or the JSON value). */
  out(text: string): void;
  /** Standard error (progress, notes, errors, usage). */
  err(text: string): void;
  /** Standard error is a terminal: progress bars are drawn only then. */
  errIsTTY: boolean;
  /** Terminal width, when known. */
  errColumns?: number;
}

export function processIO(): CliIO {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    get errIsTTY() {
      return Boolean(process.stderr.isTTY);
    },
    get errColumns() {
      return process.stderr.columns;
    },
  };
}

export interface CliContext {
  io: CliIO;
  /** The arguments after `hff`, recorded in a trained model's metadata. */
  argv: readonly string[];
}

/** A failure the user can act on; `exitCode` 2 marks a usage problem (then the usage is printed too). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const DATASET_CHOICES: readonly string[] = DATASET_NAMES;
export { BACKEND_CHOICES };

// ---- option value parsers (commander calls them; InvalidArgumentError becomes a usage error) ----

export function parsePositiveInt(value: string): number {
  const v = value.trim();
  if (!/^\+?\d+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v))) {
    throw new InvalidArgumentError('expected a positive whole number.');
  }
  return Number(v);
}

export function parseInteger(value: string): number {
  const v = value.trim();
  if (!/^[-+]?\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new InvalidArgumentError('expected a whole number.');
  return Number(v);
}

function parseNumber(value: string): number {
  const v = value.trim();
  const n = v === '' ? NaN : Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a number.');
  return n;
}

export function parsePositiveNumber(value: string): number {
  const n = parseNumber(value);
  if (!(n > 0)) throw new InvalidArgumentError('expected a number > 0.');
  return n;
}

/** A fraction in (0, 1]. */
export function parseRate(value: string): number {
  const n = parseNumber(value);
  if (!(n > 0 && n <= 1)) throw new InvalidArgumentError('expected a number with 0 < rate <= 1.');
  return n;
}

/** A fraction with 0 <= p < 1 (dropout, resizing). */
export function parseFraction(value: string): number {
  const n = parseNumber(value);
  if (!(n >= 0 && n < 1)) throw new InvalidArgumentError('expected a fraction with 0 <= p < 1.');
  return n;
}

/** An angle in degrees, 0 to 180. */
export function parseRotation(value: string): number {
  const n = parseNumber(value);
  if (!(n >= 0 && n <= 180)) throw new InvalidArgumentError('expected an angle in degrees with 0 <= a <= 180.');
  return n;
}

/** A whole number >= 0. */
export function parseCount(value: string): number {
  const v = value.trim();
  if (!/^\+?\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new InvalidArgumentError('expected a whole number >= 0.');
  return Number(v);
}

/** A cosine similarity in [-1, 1]. */
export function parseCosine(value: string): number {
  const n = parseNumber(value);
  if (!(n >= -1 && n <= 1)) throw new InvalidArgumentError('expected a cosine similarity between -1 and 1.');
  return n;
}

/** "1000,1000,1000" -> [1000, 1000, 1000]. */
export function parseLayers(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => !/^\+?\d+$/.test(p) || Number(p) < 1)) {
    throw new InvalidArgumentError('expected a comma-separated list of positive layer widths, e.g. 1000,1000,1000.');
  }
  return parts.map(Number);
}

/** `hff train --layers`: the library's layer stack syntax (parseLayerStack), its errors as usage errors. */
export function layerStackOption(value: string): LayerOption[] {
  try {
    return parseLayerStack(value);
  } catch (err) {
    throw new InvalidArgumentError(`${(err as Error).message}.`);
  }
}

/** "a,b" -> ["a", "b"] with every entry one of `allowed`, no repeats. */
export function listOf(allowed: readonly string[]): (value: string) => string[] {
  return (value: string) => {
    const parts = value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const bad = parts.filter((p) => !allowed.includes(p));
    if (parts.length === 0 || bad.length > 0) {
      throw new InvalidArgumentError(`expected a comma-separated list of ${allowed.join(', ')}${bad.length ? ` (unknown: ${bad.join(', ')})` : ''}.`);
    }
    return [...new Set(parts)];
  };
}

// ---- helpers ----

/** JSON for the last stdout line: one line, NaN/Infinity as null. */
export function jsonLine(value: unknown): string {
  return `${JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))}\n`;
}

export function percent(x: number | null | undefined, digits = 2): string {
  return typeof x === 'number' && Number.isFinite(x) ? `${(100 * x).toFixed(digits)}%` : 'n/a';
}

export function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** A command line as a user could paste it again. */
export function commandLine(argv: readonly string[]): string {
  return ['hff', ...argv].map(shellQuote).join(' ');
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Checks a model directory exists before the slower engine start-up, with the message the user needs. */
export function requireModelDir(dir: string): string {
  const target = path.resolve(dir);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(target);
  } catch {
    throw new CliError(`model directory ${target} does not exist`);
  }
  if (!stat.isDirectory()) throw new CliError(`model path ${target} is not a directory (a saved model is a directory holding model.json)`);
  return target;
}

/** Checks that image paths exist and are files, naming every missing one at once. */
export function requireFiles(files: readonly string[]): string[] {
  const missing = files.filter((f) => {
    try {
      return !fs.statSync(f).isFile();
    } catch {
      return true;
    }
  });
  if (missing.length > 0) throw new CliError(`image file${missing.length > 1 ? 's' : ''} not found: ${missing.join(', ')}`);
  return [...files];
}

/** Starts the compute engine (tfjs is loaded lazily, so this is where the backend is chosen). */
export async function startEngine(backend?: string): Promise<Engine> {
  try {
    return await createEngine(backend);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}
