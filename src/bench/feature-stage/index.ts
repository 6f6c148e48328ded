/**
 * What a feature stage costs per camera frame: `node bench/feature-stage.js --stage file.onnx --size 224x224`, or a
 * shipped stage by name (`--stage cifar10-conv`), whose frames are scaled to its input first.
 * Times, at batch 1 (one frame as it arrives), the stage alone and a whole prediction (stage, then HFF layers and
 * the class decision) and prints the median and 95th percentile, with the CPU and the onnxruntime-node version.
 */
import * as os from 'node:os';
import { createEngine } from '../../engines/backend';
import type { Engine } from '../../engines/types';
import { FeatureStage } from '../../feature-stage/feature-stage';
import { isStageName, shippedStage } from '../../feature-stage/shipped';
import { imageToVector } from '../../image/vector';
import { HffNetwork } from '../../hff/network';
import { resolveThreads } from '../../engines/onnx/runtime';
import { parseImageShapes } from '../image-shape';
import { timeCalls } from '../statistics';

interface Options {
  stage: string;
  shapes: [number, number, number][];
  frames: number;
  layers: number[];
  classes: number;
  threads?: number;
}

function parse(argv: string[]): Options {
  const o: Partial<Options> = { frames: 200, layers: [256, 256], classes: 20, shapes: [] };
  for (let i = 0; i < argv.length; i++) {
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return v;
    };
    const a = argv[i];
    if (a === '--stage') o.stage = next();
    else if (a === '--size') o.shapes = (o.shapes ?? []).concat(parseImageShapes(next(), a));
    else if (a === '--frames') o.frames = Number(next());
    else if (a === '--layers') o.layers = next().split(',').map(Number);
    else if (a === '--classes') o.classes = Number(next());
    else if (a === '--threads') o.threads = Number(next());
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: node bench/feature-stage.js --stage FILE.onnx|NAME --size 224x224[,64x64] [--frames 200] [--layers 256,256] [--classes 20] [--threads N]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (!o.stage) throw new Error('--stage FILE.onnx is required');
  if (!o.shapes?.length) throw new Error('--size HxW is required');
  if (!Number.isInteger(o.frames) || (o.frames as number) < 10) throw new Error('--frames must be a whole number >= 10');
  return o as Options;
}

/** An rgb8 sensor_msgs/Image camera frame of this shape (what hff-image gets from a camera). */
function cameraFrame([h, w]: [number, number, number]): { width: number; height: number; encoding: string; step: number; data: Uint8Array } {
  return { width: w, height: h, encoding: 'rgb8', step: w * 3, data: Uint8Array.from({ length: h * w * 3 }, (_, i) => (i * 7) % 256) };
}

/**
 * A shipped stage takes images of its own size: each --size is then a camera frame that hff-image scales to it
 * (timed apart, and inside the prediction), as a flow does.
 */
async function mainShipped(o: Options, engine: Engine, stageShape: [number, number, number]): Promise<void> {
  const stage = FeatureStage.open({ file: o.stage, inputShape: stageShape }, { threads: o.threads });
  const classes = Array.from({ length: o.classes }, (_, c) => `class ${c}`);
  const net = HffNetwork.create(engine, { inputSize: stageShape[0] * stageShape[1] * stageShape[2], layers: o.layers, featureStage: stage.config }, classes);
  const scaling = { width: stageShape[1], height: stageShape[0], channels: 3 as const };
  try {
    process.stdout.write(
      '| camera frame | scaled to | output | scaling ms (median / p95) | stage ms (median / p95) | frame to prediction ms (median / p95) | frames/s |\n|---|---|---|---|---|---|---|\n',
    );
    for (const shape of o.shapes) {
      const frame = cameraFrame(shape);
      const { vector } = await imageToVector(frame, scaling);
      const scale = await timeCalls(o.frames, () => imageToVector(frame, scaling));
      const alone = await timeCalls(o.frames, () => stage.run(vector, 1));
      const whole = await timeCalls(o.frames, async () => net.predict((await imageToVector(frame, scaling)).vector, 1));
      process.stdout.write(
        `| ${shape.join('x')} | ${stageShape.join('x')} | ${stage.config.outputSize} | ${scale.median.toFixed(2)} / ${scale.p95.toFixed(2)} | ` +
          `${alone.median.toFixed(2)} / ${alone.p95.toFixed(2)} | ${whole.median.toFixed(2)} / ${whole.p95.toFixed(2)} | ${(1000 / whole.median).toFixed(0)} |\n`,
      );
    }
  } finally {
    stage.dispose();
    net.dispose();
  }
}

export async function main(argv: string[]): Promise<void> {
  const o = parse(argv);
  const engine = await createEngine('onnx');
  const ort = require('onnxruntime-node/package.json') as { version: string };
  process.stdout.write(
    `feature stage ${o.stage}, batch 1, ${o.frames} frames; CPU ${os.cpus()[0]?.model ?? 'unknown'}, onnxruntime-node ${ort.version}, ` +
      `${resolveThreads(o.threads)} thread(s), HFF layers ${o.layers.join(',')} on ${engine.name}, load ${os.loadavg()[0].toFixed(2)}\n`,
  );
  if (isStageName(o.stage)) return mainShipped(o, engine, shippedStage(o.stage).inputShape);
  process.stdout.write('| frame | output | stage ms (median / p95) | prediction ms (median / p95) | frames/s |\n|---|---|---|---|---|\n');
  for (const shape of o.shapes) {
    const stage = FeatureStage.open({ file: o.stage, inputShape: shape }, { threads: o.threads });
    const classes = Array.from({ length: o.classes }, (_, c) => `class ${c}`);
    const net = HffNetwork.create(engine, { inputSize: shape[0] * shape[1] * shape[2], layers: o.layers, featureStage: stage.config }, classes);
    const frame = Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, i) => (i % 251) / 250);
    try {
      const alone = await timeCalls(o.frames, () => stage.run(frame, 1));
      const whole = await timeCalls(o.frames, () => net.predict(frame, 1));
      process.stdout.write(
        `| ${shape.join('x')} | ${stage.config.outputSize} | ${alone.median.toFixed(2)} / ${alone.p95.toFixed(2)} | ${whole.median.toFixed(2)} / ${whole.p95.toFixed(2)} | ${(1000 / whole.median).toFixed(0)} |\n`,
      );
    } finally {
      stage.dispose();
      net.dispose();
    }
  }
}
