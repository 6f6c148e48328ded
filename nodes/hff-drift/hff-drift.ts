/**
 * hff-drift: watches a stream of hff-classify results (their similarity score) or plain numbers with
 * Page-Hinkley, ADWIN or DDM (DDM on 0/1 errors: a result compared with msg.truth, or 0/1 numbers).
 * Output 1: every message with msg.drift; output 2: only messages where the state (ok, warning, drift) changed.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { createDriftDetector } from '../../src/drift';
import type { DriftDetector, DriftDetectorKind, DriftState } from '../../src/drift';
import { translator } from '../shared/i18n';
import { handleInput } from '../shared/node-helpers';
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

function optionalNumber(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null || String(value).trim() === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`${field} must be a number, got ${JSON.stringify(value)}`);
  return n;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing (undefined)';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return `a value of type ${typeof value}`;
}

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

/** The values a detector takes from one message, in order. */
function observations(msg: Record<string, unknown>, kind: DriftDetectorKind): number[] {
  const items = Array.isArray(msg.payload) ? msg.payload : [msg.payload];
  if (items.length === 0) throw new Error('msg.payload is an empty array: nothing to monitor');
  if (kind === 'ddm' && msg.truth !== undefined && msg.truth !== null) {
    const truths = Array.isArray(msg.truth) ? msg.truth : items.map(() => msg.truth);
    if (truths.length !== items.length) throw new Error(`msg.truth has ${truths.length} labels but msg.payload has ${items.length} results`);
    return items.map((item, i) => {
      if (!isResult(item)) throw new Error(`with msg.truth, msg.payload${items.length > 1 ? `[${i}]` : ''} must be an hff-classify result, got ${describe(item)}`);
      const truth = truths[i];
      if (typeof truth === 'number') return item.index === truth ? 0 : 1;
      if (typeof truth === 'string') return item.label === truth ? 0 : 1;
      throw new Error(`msg.truth must be the true class name or index, got ${describe(truth)}`);
    });
  }
  return items.map((item, i) => {
    const where = `msg.payload${items.length > 1 ? `[${i}]` : ''}`;
    if (isResult(item)) {
      if (kind === 'ddm') throw new Error(`DDM monitors errors: give msg.truth (the true label) with an hff-classify result, or send 0 (correct) / 1 (error) in ${where}`);
      const score = numeric(item.score);
      if (score === undefined) throw new Error(`${where}.score is ${describe(item.score)}, expected a number`);
      return score;
    }
    if (typeof item === 'boolean' && kind === 'ddm') return item ? 1 : 0;
    const n = numeric(item);
    if (n === undefined) throw new Error(`${where} must be a number or an hff-classify result, got ${describe(item)}`);
    return n;
  });
}

export = function register(RED: NodeAPI): void {
  function HffDriftNode(this: Node, def: HffDriftDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const t = translator(RED, 'hff-drift', __dirname);
    const status = new ThrottledStatus(node);
    const kind: DriftDetectorKind = def.detector === 'adwin' || def.detector === 'ddm' ? def.detector : 'page-hinkley';
    const holdMs = optionalNumber(def.holdMs, 'hold') ?? 5000;
    let detector: DriftDetector | undefined;
    let problem: Error | undefined;
    try {
      detector = createDetector();
    } catch (err) {
      problem = err as Error;
    }
    let level: Level = 'ok';
    let drifts = 0;
    let lastDriftAt = -Infinity;

    function createDetector(): DriftDetector {
      const minInstances = optionalNumber(def.minInstances, 'min samples');
      switch (kind) {
        case 'adwin':
          return createDriftDetector('adwin', {
            delta: optionalNumber(def.adwinDelta, 'ADWIN delta'),
            clock: optionalNumber(def.adwinClock, 'ADWIN clock'),
          });
        case 'ddm':
          return createDriftDetector('ddm', {
            minInstances,
            warningLevel: optionalNumber(def.ddmWarning, 'DDM warning level'),
            driftLevel: optionalNumber(def.ddmDrift, 'DDM drift level'),
          });
        default:
          return createDriftDetector('page-hinkley', {
            delta: optionalNumber(def.phDelta, 'Page-Hinkley delta'),
            lambda: optionalNumber(def.phLambda, 'Page-Hinkley lambda'),
            alpha: optionalNumber(def.phAlpha, 'Page-Hinkley alpha'),
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
