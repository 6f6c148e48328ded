"""Few-shot teaching measured in numpy: raw pixels, the colour histogram and CNN features, nearest class mean and
nearest demonstration, among the novel classes only.

usage: /usr/bin/python3 teach.py --split fruits|cifar --nets /work/notes/fs/cnn-c5[,/work/notes/fs/cnn-c10] [--out results.json]

Splits (class index = the product's reader order, decode.js):
  fruits: Fruits-360 classes 20-39, demonstrations from train/, every test/ image of those classes; 32x32 (the
          bench-teach default), CNN features also at 64x64 (the trunk is fully convolutional).
  cifar:  CIFAR-10 classes 5-9 (dog, frog, horse, ship, truck), demonstrations from train/, all 5,000 test images.
Draws: numpy default_rng(7001 + 131 * draw + shots), the seeds bench-teach uses (not its generator), 3 draws.
"""
import argparse
import json
import os
import time

os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')  # 2 cores shared by 3 engineers
os.environ.setdefault('OMP_NUM_THREADS', '1')

import numpy as np
import torch

from common import Net, load

torch.set_num_threads(1)
HUE_BINS, SAT_BINS, VAL_BINS = 16, 4, 4


def unit(a):
    n = np.linalg.norm(a, axis=1, keepdims=True)
    return a / np.where(n > 0, n, 1)


def colour_histogram(u8):
    """src/image/features.ts colourHistogram in numpy: HSV 16x4x4 bins, square roots, unit rows."""
    x = u8.astype(np.float32) / 255
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    mx = x.max(-1)
    rng = mx - x.min(-1)
    safe = np.where(rng > 0, rng, 1)
    hue = np.where(mx == r, (g - b) / safe, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = np.where(rng > 0, ((hue + 6) % 6) / 6, 0)
    sat = np.where(mx > 0, rng / np.where(mx > 0, mx, 1), 0)
    binf = lambda v, k: np.minimum(k - 1, np.floor(v * k)).astype(np.int64)
    idx = (binf(hue, HUE_BINS) * SAT_BINS + binf(sat, SAT_BINS)) * VAL_BINS + binf(mx, VAL_BINS)
    n = len(u8)
    idx = idx.reshape(n, -1) + (np.arange(n) * HUE_BINS * SAT_BINS * VAL_BINS)[:, None]
    counts = np.bincount(idx.ravel(), minlength=n * HUE_BINS * SAT_BINS * VAL_BINS).reshape(n, -1)
    return unit(np.sqrt(counts.astype(np.float64)))


def cnn_features(net, u8, flip=False):
    out = []
    with torch.no_grad():
        for i in range(0, len(u8), 500):
            x = torch.from_numpy(u8[i:i + 500]).permute(0, 3, 1, 2).float().div_(255)
            f = net.trunk(x)
            if flip:
                f = (f + net.trunk(x.flip(3))) / 2
            out.append(f.numpy())
    return np.concatenate(out).astype(np.float64)


def load_net(prefix):
    info = json.load(open(prefix + '.json'))
    net = Net(len(info['class_indices']), widths=tuple(info['widths']))
    net.load_state_dict(torch.load(prefix + '.pt'))
    net.eval()
    return net, info


def prepare(parts, mode, demo_idx):
    """One representation for a draw: each part normalised its own way, then joined with equal weight."""
    demos, tests = [], []
    for pool, test in parts:
        d, t = pool[demo_idx], test
        if mode == 'rowcentre':
            d = d - d.mean(1, keepdims=True)
            t = t - t.mean(1, keepdims=True)
        elif mode == 'centre':
            m = d.mean(0, keepdims=True)
            d, t = d - m, t - m
        demos.append(unit(d))
        tests.append(unit(t))
    return unit(np.concatenate(demos, 1)), unit(np.concatenate(tests, 1))


def accuracy(demo, demo_y, test, test_y, classes):
    protos = unit(np.stack([demo[demo_y == c].mean(0) for c in classes]))
    ncm = np.asarray(classes)[(test @ protos.T).argmax(1)]
    nd = demo_y[(test @ demo.T).argmax(1)]
    return float((ncm == test_y).mean()), float((nd == test_y).mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--split', choices=['fruits', 'cifar'], required=True)
    ap.add_argument('--nets', default='')
    ap.add_argument('--shots', default='1,5,20')
    ap.add_argument('--draws', type=int, default=3)
    ap.add_argument('--out')
    a = ap.parse_args()
    tag, novel = ('fruits', list(range(20, 40))) if a.split == 'fruits' else ('cifar10', list(range(5, 10)))
    sizes = [32, 64] if a.split == 'fruits' else [32]
    images = {}
    for s in sizes:
        xtr, ytr, names = load(f'{tag}-{s}', 'train')
        xte, yte, _ = load(f'{tag}-{s}', 'test')
        ptr, pte = np.isin(ytr, novel), np.isin(yte, novel)
        images[s] = (xtr[ptr], xte[pte])
        pool_y, test_y = ytr[ptr], yte[pte]
    print(f'{a.split}: novel {[names[c] for c in novel]}; pool {len(pool_y)}, test {len(test_y)}', flush=True)
    all_draws = {}
    for shots in [int(s) for s in a.shots.split(',')]:
        all_draws[shots] = []
        for d in range(a.draws):
            rng = np.random.default_rng(7001 + 131 * d + shots)
            all_draws[shots].append(np.concatenate([np.flatnonzero(pool_y == c)[rng.permutation((pool_y == c).sum())[:shots]] for c in novel]))
    # Only the drawn demonstrations need features: keep those pool rows and renumber the draws.
    used = np.unique(np.concatenate([i for ds in all_draws.values() for i in ds]))
    where = {v: k for k, v in enumerate(used)}
    all_draws = {s: [np.array([where[v] for v in i]) for i in ds] for s, ds in all_draws.items()}
    images = {s: (p[used], t) for s, (p, t) in images.items()}
    pool_y = pool_y[used]

    pool32, test32 = images[32]
    flat = lambda u8: u8.reshape(len(u8), -1).astype(np.float64) / 255
    raw = (flat(pool32), flat(test32))
    feats = {'raw': raw, 'raw mirrored': flat(pool32[:, :, ::-1])}
    reps = {  # name -> (parts, normalisation)
        'raw L2 (bench-teach baseline)': (['raw'], 'l2'),
        'raw rows centred': (['raw'], 'rowcentre'),
        'raw L2, mirrored demos too': (['raw'], 'mirrors'),
    }
    if a.split == 'fruits':
        feats['colour'] = (colour_histogram(pool32), colour_histogram(test32))
        reps['colour HSV 16x4x4'] = (['colour'], 'l2')
    for prefix in [p for p in a.nets.split(',') if p]:
        net, info = load_net(prefix)
        name = prefix.rstrip('/').split('/')[-1]
        for s in sizes:
            for flip in (False, True) if s == 32 else (False,):
                t0 = time.process_time()
                key = f'{name}@{s}' + (' flip-avg' if flip else '')
                feats[key] = tuple(cnn_features(net, u8, flip) for u8 in images[s])
                print(f'  features {key}: {feats[key][0].shape[1]} wide, {time.process_time() - t0:.1f} s CPU', flush=True)
                reps[f'{key} L2'] = ([key], 'l2')
                reps[f'{key} centred'] = ([key], 'centre')
                if a.split == 'fruits' and not flip:
                    for w in (1.0, 0.5, 0.25):
                        reps[f'colour + {w}*{key} centred'] = (['colour', key], ('centre_cnn', w))

    results = []
    for shots, draws in all_draws.items():
        for rep, (parts, mode) in reps.items():
            scores = []
            for idx in draws:
                if isinstance(mode, tuple):  # colour (a unit histogram) beside w times the centred, unit CNN features
                    w = mode[1]
                    dc, tc = prepare([feats[parts[0]]], 'l2', idx)
                    dn, tn = prepare([feats[parts[1]]], 'centre', idx)
                    demo, test = unit(np.concatenate([dc, w * dn], 1)), unit(np.concatenate([tc, w * tn], 1))
                elif mode == 'mirrors':  # each demonstration beside its mirror image, as bench-teach's augmented copies
                    demo = unit(np.concatenate([feats[parts[0]][0][idx], feats['raw mirrored'][idx]]))
                    test = unit(feats[parts[0]][1])
                    idx = np.concatenate([idx, idx])
                else:
                    demo, test = prepare([feats[p] for p in parts], mode, idx)
                scores.append(accuracy(demo, pool_y[idx], test, test_y, novel))
            s = np.array(scores)
            row = {'split': a.split, 'shots': shots, 'representation': rep,
                   'nearest_mean': float(s[:, 0].mean()), 'nearest_mean_sd': float(s[:, 0].std(ddof=1)) if len(s) > 1 else 0.0,
                   'nearest_demo': float(s[:, 1].mean()), 'nearest_demo_sd': float(s[:, 1].std(ddof=1)) if len(s) > 1 else 0.0}
            results.append(row)
            print(f"{shots:>2} shots | {rep:<40} | mean {row['nearest_mean']:.3f} ± {row['nearest_mean_sd']:.3f} | demo {row['nearest_demo']:.3f} ± {row['nearest_demo_sd']:.3f}", flush=True)
    if a.out:
        json.dump(results, open(a.out, 'w'), indent=1)


if __name__ == '__main__':
    main()
