/**
 * hff-drift: watches a stream of hff-classify results (their similarity score) or plain numbers with
 * Page-Hinkley, ADWIN or DDM (DDM on 0/1 errors: a result compared with msg.truth, or 0/1 numbers).
 * Output 1: every message with msg.drift; output 2: only messages where the state (ok, warning, drift) changed.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { createDriftDetector, MAX_DRIFT_INPUT } from '../../src/drift';
import type { DriftDetector, DriftDetectorKind, DriftState } from '../../src/drift';
import { translator } from '../shared/i18n';
import { handleInput } from '../shared/node-helpers';
import { describe, numberSetting } from '../shared/settings';
import { ThrottledStatus } from '../shared/status';

interface HffDriftDef extends NodeDef {
  detector?: DriftDetectorKind;
  direction?: 'up' | 'down' | 'both';
  phDelta?: string | number;
  phLambda?: string | number;
  phAlpha?: string | number;
  minInstances?: string | number;
  adwinDelta?: string | number;
  adwinClock?: string | number;
  ddmWarning?: string | number;
  ddmDrift?: string | number;
  holdMs?: string | number;
}

type Level = 'ok' | 'warning' | 'drift';

/** msg.drift: the detector's state with `threshold` null while it is not yet defined (JSON has no Infinity). */
interface DriftInfo {
  drift: boolean;
  warning: boolean;
  detector: DriftDetectorKind;
  statistic: number;
  threshold: number | null;
  n: number;
  state: Level;
  /** Drifts reported since the node started or was reset. */
  drifts: number;
  /** Values the detector took from this message (one, or one per batch row). */
  values: number;
}

/** Most values one message may give the detector: a larger array is refused before it is read. */
const MAX_DRIFT_VALUES = 100_000;

interface ResultLike {
  label?: unknown;
  index?: unknown;
  score?: unknown;
}

function isResult(value: unknown): value is ResultLike {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && 'score' in value;
}

/** A number from a number or numeric string (MQTT), else undefined. */
function numeric(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

/** Checked before the detector sees any value of the message, so that a bad one leaves it untouched. */
function inRange(n: number, where: string): number {
  if (!Number.isFinite(n) || Math.abs(n) > MAX_DRIFT_INPUT) {
    throw new Error(`${where} is ${n}: the detector takes finite numbers within ±${MAX_DRIFT_INPUT.toExponential(0)}`);
  }
  return n;
}

/** The values a detector takes from one message, in order. */
function observations(msg: Record<string, unknown>, kind: DriftDetectorKind): number[] {
  const items = Array.isArray(msg.payload) ? msg.payload : [msg.payload];
  if (items.length === 0) throw new Error('msg.payload is an empty array: nothing to monitor');
  if (items.length > MAX_DRIFT_VALUES) {
    throw new Error(`msg.payload is an array of ${items.length} values; one message may give at most ${MAX_DRIFT_VALUES} (send them in parts)`);
  }
  if (kind === 'ddm' && msg.truth !== undefined && msg.truth !== null) {
    const truths = Array.isArray(msg.truth) ? msg.truth : items.map(() => msg.truth);
    if (truths.length !== items.length) throw new Error(`msg.truth has ${truths.length} labels but msg.payload has ${items.length} results`);
    return Array.from(items, (item: unknown, i) => {
      if (!isResult(item))
        throw new Error(`with msg.truth, msg.payload${items.length > 1 ? `[${i}]` : ''} must be an hff-classify result, got ${describe(item)}`);
      const truth = truths[i];
      if (typeof truth === 'number') return item.index === truth ? 0 : 1;
      if (typeof truth === 'string') return item.label === truth ? 0 : 1;
      throw new Error(`msg.truth must be the true class name or index, got ${describe(truth)}`);
    });
  }
  return Array.from(items, (item: unknown, i) => {
    const where = `msg.payload${items.length > 1 ? `[${i}]` : ''}`;
    if (isResult(item)) {
      if (kind === 'ddm')
        throw new Error(`DDM monitors errors: give msg.truth (the true label) with an hff-classify result, or send 0 (correct) / 1 (error) in ${where}`);
      const score = numeric(item.score);
      if (score === undefined) throw new Error(`${where}.score is ${describe(item.score)}, expected a number`);
      return inRange(score, `${where}.score`);
    }
    if (typeof item === 'boolean' && kind === 'ddm') return item ? 1 : 0;
    const n = numeric(item);
    if (n === undefined) throw new Error(`${where} must be a number or an hff-classify result, got ${describe(item)}`);
    return inRange(n, where);
  });
}

export = function register(RED: NodeAPI): void {
  function HffDriftNode(this: Node, def: HffDriftDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const t = translator(RED, 'hff-drift', __dirname);
    const status = new ThrottledStatus(node);
    const kind: DriftDetectorKind = def.detector === 'adwin' || def.detector === 'ddm' ? def.detector : 'page-hinkley';

    let detector: DriftDetector | undefined;
    let problem: Error | undefined;
    let holdMs = 5000;
    try {
      holdMs = numberSetting(def.holdMs, 'hold', { min: 0 }) ?? holdMs;
      detector = createDetector();
    } catch (err) {
      problem = err as Error;
    }
    let level: Level = 'ok';
    let drifts = 0;
    let lastDriftAt = -Infinity;

    function createDetector(): DriftDetector {
      const minInstances = numberSetting(def.minInstances, 'min samples', { integer: true, min: 0 });
      switch (kind) {
        case 'adwin':
          return createDriftDetector('adwin', {
            delta: numberSetting(def.adwinDelta, 'ADWIN delta'),
            clock: numberSetting(def.adwinClock, 'ADWIN clock'),
          });
        case 'ddm':
          return createDriftDetector('ddm', {
            minInstances,
            warningLevel: numberSetting(def.ddmWarning, 'DDM warning level'),
            driftLevel: numberSetting(def.ddmDrift, 'DDM drift level'),
          });
        default:
          return createDriftDetector('page-hinkley', {
            delta: numberSetting(def.phDelta, 'Page-Hinkley delta'),
            lambda: numberSetting(def.phLambda, 'Page-Hinkley lambda'),
            alpha: numberSetting(def.phAlpha, 'Page-Hinkley alpha'),
            minInstances,
            direction: def.direction ?? 'down',
          });
      }
    }

    function showStatus(state: DriftState | undefined, force: boolean): void {
      const n = state?.n ?? 0;
      if (Date.now() - lastDriftAt < holdMs || state?.drift) {
        status.set({ colour: 'red', text: t('status.drift', { drifts, n }) }, force);
      } else if (level === 'warning') {
        status.set({ colour: 'yellow', text: t('status.warning', { n }) }, force);
      } else {
        status.set({ colour: 'green', text: t('status.ok', { n, drifts }) }, force);
      }
    }

    if (problem) status.set({ colour: 'red', shape: 'ring', text: t('status.badConfig') }, true);
    else status.set({ colour: 'grey', shape: 'ring', text: t('status.waiting', { detector: kind }) }, true);

    handleInput<Record<string, unknown>>(node, (msg, send) => {
      if (problem || !detector) throw new Error(`hff-drift is misconfigured: ${problem?.message}`);
      if (msg.reset !== undefined && msg.reset !== false) {
        detector.reset();
        level = 'ok';
        drifts = 0;
        lastDriftAt = -Infinity;
        status.set({ colour: 'grey', shape: 'ring', text: t('status.reset', { detector: kind }) }, true);
        return;
      }
      const values = observations(msg, kind);
      let state = detector.state;
      let drifted = false;
      for (const x of values) {
        state = detector.update(x);
        if (state.drift) {
          drifted = true;
          drifts += 1;
        }
      }
      const now: Level = drifted ? 'drift' : state.warning ? 'warning' : 'ok';
      const changed = now !== level;
      level = now;
      if (drifted) lastDriftAt = Date.now();
      const info: DriftInfo = {
        drift: drifted,
        warning: state.warning,
        detector: state.detector,
        statistic: state.statistic,
        threshold: Number.isFinite(state.threshold) ? state.threshold : null,
        n: state.n,
        state: now,
        drifts,
        values: values.length,
      };
      msg.drift = info;
      showStatus(state, changed);
      if (changed) {
        send([msg, RED.util.cloneMessage(msg)]);
      } else {
        send([msg, null]);
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      status.close();
      done();
    });
  }

  RED.nodes.registerType('hff-drift', HffDriftNode);
};
