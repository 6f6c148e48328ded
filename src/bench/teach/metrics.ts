/** Metrics of the few-shot teaching benchmark: AUROC, a threshold from it, and the raw-pixel baseline. */

/**
 * Area under the ROC curve of telling `positives` from `negatives` by a score (higher = positive): the
 * probability that a random positive scores above a random negative, ties counting one half (Mann-Whitney U).
 */
export function auroc(positives: ArrayLike<number>, negatives: ArrayLike<number>): number {
  const np = positives.length;
  const nn = negatives.length;
  if (np === 0 || nn === 0) return NaN;
  const all: { v: number; pos: boolean }[] = [];
  for (let i = 0; i < np; i++) all.push({ v: positives[i], pos: true });
  for (let i = 0; i < nn; i++) all.push({ v: negatives[i], pos: false });
  all.sort((a, b) => a.v - b.v);
  let rankSumPos = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j].v === all[i].v) j++;
    const midRank = (i + 1 + j) / 2; // ranks i+1..j share their mean
    for (let t = i; t < j; t++) if (all[t].pos) rankSumPos += midRank;
    i = j;
  }
  return (rankSumPos - (np * (np + 1)) / 2) / (np * nn);
}

/**
 * The threshold that best separates positives (score >= threshold) from negatives: the maximum of Youden's
 * J = TPR - FPR over every observed score; also the rates there.
 */
export function bestThreshold(positives: ArrayLike<number>, negatives: ArrayLike<number>): { threshold: number; tpr: number; fpr: number } {
  const values = [...Array.from(positives), ...Array.from(negatives)].sort((a, b) => a - b);
  const pos = Float64Array.from(positives).sort();
  const neg = Float64Array.from(negatives).sort();
  const countBelow = (sorted: Float64Array, t: number): number => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  let best = { threshold: values[0] ?? 0, tpr: 1, fpr: 1, j: -Infinity };
  for (let i = 0; i < values.length; i++) {
    if (i > 0 && values[i] === values[i - 1]) continue;
    const t = values[i];
    const tpr = (pos.length - countBelow(pos, t)) / pos.length;
    const fpr = (neg.length - countBelow(neg, t)) / neg.length;
    if (tpr - fpr > best.j) best = { threshold: t, tpr, fpr, j: tpr - fpr };
  }
  return { threshold: best.threshold, tpr: best.tpr, fpr: best.fpr };
}

/**
 * Cosine nearest-class-mean on raw pixels: each class's prototype is the normalised mean of its L2-normalised
 * shots; a test vector goes to the class of highest cosine. Returns accuracy over the test rows, among `classes`.
 */
export function rawNearestMeanAccuracy(
  shots: { label: number; data: Float32Array }[],
  test: Float32Array,
  testLabels: ArrayLike<number>,
  inputSize: number,
): number {
  const labels = [...new Set(shots.map((s) => s.label))];
  const protos = labels.map(() => new Float64Array(inputSize));
  for (const s of shots) {
    const p = protos[labels.indexOf(s.label)];
    const n = s.data.length / inputSize;
    for (let r = 0; r < n; r++) {
      const v = s.data.subarray(r * inputSize, (r + 1) * inputSize);
      const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0)) || 1;
      for (let j = 0; j < inputSize; j++) p[j] += v[j] / norm;
    }
  }
  for (const p of protos) {
    const norm = Math.sqrt(p.reduce((a, x) => a + x * x, 0)) || 1;
    for (let j = 0; j < inputSize; j++) p[j] /= norm;
  }
  return nearestRowAccuracy(
    protos.map((p) => Float32Array.from(p)),
    labels,
    test,
    testLabels,
    inputSize,
  );
}

export function meanAndStd(values: number[]): { mean: number; std: number } {
  if (values.length === 0) return { mean: NaN, std: NaN };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = values.length > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) * (b - mean), 0) / (values.length - 1)) : 0;
  return { mean, std };
}

/**
 * Nearest demonstration on raw pixels: each test vector goes to the class of the demonstration (or augmented copy of
 * one) it has the highest cosine with. `shots[i].data` holds `copies` rows per demonstration. Accuracy among `shots`'
 * classes.
 */
export function rawNearestDemonstrationAccuracy(
  shots: { label: number; data: Float32Array }[],
  test: Float32Array,
  testLabels: ArrayLike<number>,
  inputSize: number,
): number {
  const rows: Float32Array[] = [];
  const labels: number[] = [];
  for (const s of shots) {
    for (let r = 0; r < s.data.length / inputSize; r++) {
      const v = Float32Array.from(s.data.subarray(r * inputSize, (r + 1) * inputSize));
      const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0)) || 1;
      for (let j = 0; j < inputSize; j++) v[j] /= norm;
      rows.push(v);
      labels.push(s.label);
    }
  }
  return nearestRowAccuracy(rows, labels, test, testLabels, inputSize);
}

/** Accuracy of naming each test vector by the label of the row it has the highest dot product with. */
function nearestRowAccuracy(rows: Float32Array[], labels: number[], test: Float32Array, testLabels: ArrayLike<number>, inputSize: number): number {
  let correct = 0;
  const n = testLabels.length;
  for (let i = 0; i < n; i++) {
    const v = test.subarray(i * inputSize, (i + 1) * inputSize);
    let best = -1;
    let bestScore = -Infinity;
    rows.forEach((p, k) => {
      let s = 0;
      // The test vector's norm is the same for every row, so it does not change the argmax.
      for (let j = 0; j < inputSize; j++) s += v[j] * p[j];
      if (s > bestScore) {
        bestScore = s;
        best = k;
      }
    });
    if (labels[best] === testLabels[i]) correct += 1;
  }
  return n > 0 ? correct / n : NaN;
}
