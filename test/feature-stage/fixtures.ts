/** Small image-to-vector ONNX models that the feature-stage tests build themselves, and coloured test images. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GraphBuilder } from '../../src/onnx/graph-builder';
import { SeededRandom } from '../../src/hff/random';

/** Each channel's mean over the image: [batch, channels, h, w] -> [batch, channels] (values easy to check by hand). */
export function channelMeansModel(options: { fixedBatch?: boolean; layout?: 'nchw' | 'nhwc' } = {}): Uint8Array {
  const g = new GraphBuilder('channel_means');
  const batch = options.fixedBatch ? 1 : 'batch';
  const nhwc = options.layout === 'nhwc';
  const image = g.input('image', 'float', nhwc ? [batch, 'h', 'w', 'c'] : [batch, 'c', 'h', 'w']);
  g.op('ReduceMean', [image], { axes: nhwc ? [1, 2] : [2, 3], keepdims: 0 }, 'means');
  g.output('means', 'float', [batch, 'c']);
  return g.build();
}

/** A small convolutional trunk: 3x3 convolution to `filters` channels, ReLU, global average pooling, flattened. */
export function convTrunkModel(channels: number, filters: number, seed = 3): Uint8Array {
  const g = new GraphBuilder('conv_trunk');
  const random = new SeededRandom(seed);
  const weight = Float32Array.from({ length: filters * channels * 9 }, () => random.gaussian() * 0.5);
  const bias = Float32Array.from({ length: filters }, () => random.gaussian() * 0.1);
  const image = g.input('image', 'float', ['batch', channels, 'h', 'w']);
  const conv = g.op('Conv', [image, g.floatTensor('w', [filters, channels, 3, 3], weight), g.floatTensor('b', [filters], bias)], { pads: [1, 1, 1, 1] });
  const pooled = g.op('GlobalAveragePool', [g.op('Relu', [conv])]);
  g.op('Flatten', [pooled], { axis: 1 }, 'features');
  g.output('features', 'float', ['batch', filters]);
  return g.build();
}

export function writeModel(dir: string, name: string, bytes: Uint8Array): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

export const COLOURS: Record<string, [number, number, number]> = {
  red: [0.9, 0.1, 0.1],
  green: [0.1, 0.8, 0.2],
  blue: [0.1, 0.2, 0.9],
  yellow: [0.9, 0.85, 0.1],
};

/** n images of side x side (HWC in [0,1]) per colour: the colour with noise and a random darker square on it. */
export function colourImages(side: number, perClass: number, seed: number, colours = Object.keys(COLOURS)) {
  const random = new SeededRandom(seed);
  const size = side * side * 3;
  const images = new Float32Array(colours.length * perClass * size);
  const labels = new Int32Array(colours.length * perClass);
  colours.forEach((name, c) => {
    for (let i = 0; i < perClass; i++) {
      const n = c * perClass + i;
      labels[n] = c;
      const x0 = Math.floor(random.next() * side * 0.5);
      const y0 = Math.floor(random.next() * side * 0.5);
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side; x++) {
          const shade = x >= x0 && x < x0 + side / 2 && y >= y0 && y < y0 + side / 2 ? 0.6 : 1;
          for (let ch = 0; ch < 3; ch++) {
            const v = COLOURS[name][ch] * shade + (random.next() - 0.5) * 0.2;
            images[n * size + (y * side + x) * 3 + ch] = Math.min(1, Math.max(0, v));
          }
        }
      }
    }
  });
  return { images, labels, n: labels.length, size, classes: colours };
}
