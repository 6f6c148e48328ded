/**
 * hff-teach: the prototype updater. msg.payload (one vector or a batch) with msg.label updates, or creates, that
 * class's prototypes; msg.topic 'forget', 'rename', 'reset' and 'save' manage classes and the model file. Every
 * update is described by one output message (class, count, version), for logging or for other robots.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { TeachMode, TeachOptions } from '../../src/hff/class-book';
import { fleetFor } from '../shared/fleet-sync';
import { translator } from '../shared/i18n';
import { findModel, followModel, requireModel } from '../shared/model-client';
import { handleInput } from '../shared/node-helpers';
import { numberSetting } from '../shared/settings';
import { ThrottledStatus } from '../shared/status';
import { isBlank, type LabelValue, labelText, readLabels, readVectors, toBatch } from '../shared/vectors';

interface HffTeachDef extends NodeDef {
  model?: string;
  mode?: TeachMode;
  rate?: string | number;
  meanOf?: string | number;
  /** Most classes the model may have after teaching from messages; empty: DEFAULT_MAX_CLASSES. */
  maxClasses?: string | number;
}

/** Enough for any workcell's parts, small enough that a flood of labels cannot bloat the model. */
const DEFAULT_MAX_CLASSES = 1000;

const COMMANDS = ['classes', 'forget', 'rename', 'reset', 'save'] as const;
type Command = (typeof COMMANDS)[number];

/** The dialog's settings; throws naming a bad field. */
function teachSettings(def: HffTeachDef): { options: TeachOptions; maxClasses: number } {
  if (def.mode !== undefined && def.mode !== 'mean' && def.mode !== 'ema') throw new Error(`mode must be mean or ema, got ${JSON.stringify(def.mode)}`);
  const options: TeachOptions = { mode: def.mode === 'ema' ? 'ema' : 'mean' };
  const rate = numberSetting(def.rate, 'EMA rate', { min: 0, aboveMin: true, max: 1 });
  if (rate !== undefined) options.rate = rate;
  const meanOf = numberSetting(def.meanOf, 'mean of', { integer: true, min: 1 });
  if (meanOf !== undefined) options.meanOf = meanOf;
  const maxClasses = numberSetting(def.maxClasses, 'most classes', { integer: true, min: 1 }) ?? DEFAULT_MAX_CLASSES;
  return { options, maxClasses };
}

function singleLabel(value: unknown, what: string): LabelValue {
  if (Array.isArray(value)) throw new Error(`${what} must be one class name (or index), got an array`);
  return readLabels(value, 1, what)[0];
}

export = function register(RED: NodeAPI): void {
  function HffTeachNode(this: Node, def: HffTeachDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const t = translator(RED, 'hff-teach', __dirname);
    const status = new ThrottledStatus(node);
    const model = findModel(RED, def.model);
    let settings: { options: TeachOptions; maxClasses: number } = { options: { mode: 'mean' }, maxClasses: DEFAULT_MAX_CLASSES };
    let settingsProblem: Error | undefined;
    try {
      settings = teachSettings(def);
    } catch (err) {
      settingsProblem = err as Error;
    }
    const { options, maxClasses } = settings;
    const unfollow = followModel(model, status, t, () => {
      if (!settingsProblem) return false;
      status.set({ colour: 'red', shape: 'ring', text: t('status.badConfig') }, true);
      return true;
    });

    function describe(msg: Record<string, unknown>, payload: Record<string, unknown>, classes: readonly string[]) {
      return { ...msg, topic: payload.action, payload: { ...payload, classes: [...classes] } };
    }

    handleInput<Record<string, unknown>>(node, async (msg, send) => {
      if (settingsProblem) throw new Error(`hff-teach is misconfigured: ${settingsProblem.message}`);
      const controller = requireModel(model);
      const net = await controller.ready();
      const topic = typeof msg.topic === 'string' ? msg.topic.trim().toLowerCase() : '';
      const command = (COMMANDS as readonly string[]).includes(topic) ? (topic as Command) : undefined;

      if (command === 'classes') {
        // Read-only: lets a flow learn the class list (e.g. at start) without teaching or saving anything.
        send(describe(msg, { action: 'classes', version: net.version }, net.classes));
        return;
      }
      if (command === 'save') {
        await controller.save();
        status.activity({ colour: 'green', text: t('status.saved', { classes: net.classes.length }) }, true);
        send(describe(msg, { action: 'save', dir: controller.dir, version: net.version }, net.classes));
        return;
      }
      if (command === 'forget' || (command === 'reset' && msg.label !== undefined && msg.label !== null && msg.label !== '')) {
        controller.assertIdle('forget a class');
        const gone = net.forgetClass(singleLabel(msg.label, 'msg.label'));
        controller.learnedFromMessage();
        status.activity({ colour: 'green', text: t('status.forgot', { label: gone.label }) }, true);
        send(describe(msg, { action: command, label: gone.label, index: gone.index, version: gone.version }, net.classes));
        return;
      }
      if (command === 'reset') {
        const fresh = await controller.revert();
        status.activity({ colour: 'green', text: t('status.reset', { classes: fresh.classes.length }) }, true);
        send(describe(msg, { action: 'reset', version: fresh.version }, fresh.classes));
        return;
      }
      if (command === 'rename') {
        const from = singleLabel(msg.label, 'msg.label');
        if (typeof msg.payload !== 'string' || msg.payload.trim() === '') {
          throw new Error('rename needs the new class name as a string in msg.payload (and the old one in msg.label)');
        }
        const renamed = net.renameClass(from, msg.payload.trim());
        controller.learnedFromMessage();
        status.activity({ colour: 'green', text: t('status.renamed', { from: renamed.previous, to: renamed.label }) }, true);
        send(
          describe(msg, { action: 'rename', label: renamed.label, previous: renamed.previous, index: renamed.index, version: renamed.version }, net.classes),
        );
        return;
      }

      const { input } = readVectors(msg.payload);
      const { data, batch } = toBatch(input, net.inputSize, 'msg.payload');
      const labels = readLabels(msg.label, batch);
      for (let row = 0; row < batch; row++) {
        if (isBlank(data, row * net.inputSize, net.inputSize)) {
          throw new Error(
            `msg.payload${batch > 1 ? `[${row}]` : ''} is all zeros: a blank input has no direction and teaches nothing; send a real demonstration`,
          );
        }
      }
      // Rows with the same label are taught together: one update, and one message, per class.
      const groups = new Map<LabelValue, number[]>();
      labels.forEach((label, row) => groups.set(label, [...(groups.get(label) ?? []), row]));
      const newClasses = [...groups.keys()].filter((label) => net.classIndex(label) === undefined).length;
      if (net.classes.length + newClasses > maxClasses) {
        throw new Error(
          `teaching ${newClasses} new class(es) would give the model ${net.classes.length + newClasses} classes; this node allows at most ${maxClasses} ('most classes' setting). Forget classes first or raise the limit`,
        );
      }
      const size = net.inputSize;
      const updates: Record<string, unknown>[] = [];
      try {
        for (const [label, rows] of groups) {
          const examples = rows.length === batch ? data : new Float32Array(rows.length * size);
          if (examples !== data) rows.forEach((r, i) => examples.set(data.subarray(r * size, (r + 1) * size), i * size));
          const r = net.teach(label, examples, rows.length, options);
          fleetFor(controller)?.publishLocal(r);
          const chosen = net.teachingRepresentation;
          updates.push({
            action: 'teach',
            ...r,
            examples: rows.length,
            // Classes created by teaching keep demonstrations and are scored in a representation chosen by evidence.
            demonstrations: net.demonstrationCount(r.index),
            representation: chosen.representation,
            scoring: chosen.scoring,
            representationScore: chosen.score,
          });
        }
      } finally {
        // Classes taught before a failing one (e.g. an index out of range) stay taught: report and save them.
        for (const update of updates) send(describe(msg, update, net.classes));
        if (updates.length > 0) controller.learnedFromMessage();
      }
      const last = updates[updates.length - 1];
      status.activity({
        colour: 'green',
        text: t(last.created ? 'status.created' : 'status.taught', { label: labelText(last.label as LabelValue), count: last.count as number }),
      });
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      unfollow();
      status.close();
      done();
    });
  }

  RED.nodes.registerType('hff-teach', HffTeachNode);
};
