/**
 * Hand-made image features for teaching: what an object looks like to a few demonstrations when no trained network
 * knows it. Both give unit rows, so cosine similarity compares them like any other representation.
 *
 * - `colourHistogram`: how much of the picture has each hue, saturation and brightness (Swain and Ballard's colour
 *   indexing). It ignores where things are, so a part turned, moved or mirrored keeps its histogram. Measured on
 *   Fruits-360 (bench/TEACH.md) it names held-out turntable views from 5 demonstrations far better than pixels.
 * - `edgeHistogram`: how strongly edges of each direction run through each cell of a grid (histograms of oriented
 *   gradients). It keeps the outline and ignores brightness, which suits grey pictures of shapes.
 *
 * Pixel values are expected in [0, 1] (what hff-image gives by default); values outside are clamped.
 */

export const HUE_BINS = 16;
export const SATURATION_BINS = 4;
export const VALUE_BINS = 4;
export const COLOUR_FEATURES = HUE_BINS * SATURATION_BINS * VALUE_BINS;
export const EDGE_DIRECTIONS = 9;
/** Cells across the shorter side of the edge grid: 5-pixel cells on 28-32 pixel images measured best on Fashion-MNIST. */
const EDGE_CELLS = 6;

const clamp01 = (v: number) => (v > 1 ? 1 : v > 0 ? v : 0);
const bin = (v: number, bins: number) => Math.min(bins - 1, Math.floor(v * bins));

/**
 * Square roots of bin counts, scaled to unit length: the cosine of two such rows is the Bhattacharyya coefficient of
 * the two histograms, so one large bin (a plain background) does not drown the rest.
 */
function toUnitRoots(counts: Float32Array): void {
  let sum = 0;
  for (let i = 0; i < counts.length; i++) {
    counts[i] = Math.sqrt(counts[i]);
    sum += counts[i] * counts[i];
  }
  const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0;
  for (let i = 0; i < counts.length; i++) counts[i] *= scale;
}

/** Hue-saturation-brightness histograms (COLOUR_FEATURES wide) of a batch of HWC colour images, unit rows. */
export function colourHistogram(x: Float32Array, batch: number, shape: readonly [number, number, number]): Float32Array {
  const [h, w, c] = shape;
  if (c !== 3) throw new Error(`colour features need 3-channel images, got ${c} channel(s)`);
  const size = h * w * c;
  const out = new Float32Array(batch * COLOUR_FEATURES);
  for (let b = 0; b < batch; b++) {
    const counts = out.subarray(b * COLOUR_FEATURES, (b + 1) * COLOUR_FEATURES);
    for (let p = b * size; p < (b + 1) * size; p += 3) {
      const r = clamp01(x[p]);
      const g = clamp01(x[p + 1]);
      const bl = clamp01(x[p + 2]);
      const max = Math.max(r, g, bl);
      const range = max - Math.min(r, g, bl);
      let hue = 0;
      if (range > 0) {
        if (max === r) hue = (g - bl) / range;
        else if (max === g) hue = (bl - r) / range + 2;
        else hue = (r - g) / range + 4;
        hue = ((hue + 6) % 6) / 6;
      }
      const saturation = max > 0 ? range / max : 0;
      counts[(bin(hue, HUE_BINS) * SATURATION_BINS + bin(saturation, SATURATION_BINS)) * VALUE_BINS + bin(max, VALUE_BINS)] += 1;
    }
    toUnitRoots(counts);
  }
  return out;
}

/** Width of edgeHistogram's rows for an image shape. */
export function edgeFeatureCount(shape: readonly [number, number, number]): number {
  const { rows, cols } = edgeGrid(shape);
  return rows * cols * EDGE_DIRECTIONS;
}

function edgeGrid(shape: readonly [number, number, number]): { cell: number; rows: number; cols: number } {
  const [h, w] = shape;
  const cell = Math.max(2, Math.round(Math.min(h, w) / EDGE_CELLS));
  return { cell, rows: Math.max(1, Math.floor(h / cell)), cols: Math.max(1, Math.floor(w / cell)) };
}

/**
 * Oriented-gradient histograms of a batch of HWC images (channels averaged to grey): per grid cell, the gradient
 * magnitude summed by direction (EDGE_DIRECTIONS bins over 180 degrees); unit rows of edgeFeatureCount(shape).
 */
export function edgeHistogram(x: Float32Array, batch: number, shape: readonly [number, number, number]): Float32Array {
  const [h, w, c] = shape;
  const size = h * w * c;
  const { cell, rows, cols } = edgeGrid(shape);
  const width = rows * cols * EDGE_DIRECTIONS;
  const out = new Float32Array(batch * width);
  const grey = new Float32Array(h * w);
  for (let b = 0; b < batch; b++) {
    const base = b * size;
    for (let i = 0; i < h * w; i++) {
      let s = 0;
      for (let k = 0; k < c; k++) s += x[base + i * c + k];
      grey[i] = s / c;
    }
    const counts = out.subarray(b * width, (b + 1) * width);
    for (let y = 0; y < rows * cell; y++) {
      for (let xx = 0; xx < cols * cell; xx++) {
        // Central differences; the border rows and columns use a one-sided one.
        const left = grey[y * w + Math.max(0, xx - 1)];
        const right = grey[y * w + Math.min(w - 1, xx + 1)];
        const up = grey[Math.max(0, y - 1) * w + xx];
        const down = grey[Math.min(h - 1, y + 1) * w + xx];
        const gx = right - left;
        const gy = down - up;
        const magnitude = Math.sqrt(gx * gx + gy * gy);
        if (magnitude === 0) continue;
        // Direction only, not sign: a dark-to-light edge and a light-to-dark one share a bin.
        let angle = Math.atan2(gy, gx);
        if (angle < 0) angle += Math.PI;
        if (angle >= Math.PI) angle -= Math.PI;
        const direction = bin(angle / Math.PI, EDGE_DIRECTIONS);
        const at = (Math.floor(y / cell) * cols + Math.floor(xx / cell)) * EDGE_DIRECTIONS + direction;
        counts[at] += magnitude;
      }
    }
    toUnitRoots(counts);
  }
  return out;
}
