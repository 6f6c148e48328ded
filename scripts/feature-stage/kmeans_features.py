"""Coates & Ng's single-layer unsupervised features (AISTATS 2011): k-means on whitened 6x6 colour patches, each
centroid a filter with a soft threshold, summed over the 4 quadrants of the image (4 x K features).

Learnt from the images of the base classes only (no label is used, and no image of a taught class), so the features
are as valid for CIFAR-10 0-4 -> 5-9 as a network trained on 0-4. The question they answer: do features that were
never told which classes matter (so never taught to merge dogs into cats) let a taught class win among all classes?
"""
import time

import numpy as np
import torch
import torch.nn.functional as F

PATCH = 6
THRESHOLD = 0.25  # Coates & Ng's soft threshold alpha on the unit-length centroids


def normalise(p):
    """Per-patch brightness and contrast normalisation (pixel values 0-255, as in the paper)."""
    return (p - p.mean(1, keepdim=True)) / torch.sqrt(p.var(1, keepdim=True) + 10)


def learn(u8, k, rng, patches_per_image=10, iterations=10):
    """Centroids, whitening matrix and patch mean from N x H x W x 3 uint8 images."""
    t0 = time.time()
    images = torch.from_numpy(u8).permute(0, 3, 1, 2).float()
    cols = F.unfold(images, PATCH)
    pick = torch.from_numpy(rng.integers(0, cols.shape[2], (len(u8), patches_per_image)))
    p = torch.gather(cols, 2, pick.unsqueeze(1).expand(-1, cols.shape[1], -1)).permute(0, 2, 1).reshape(-1, cols.shape[1])
    p = normalise(p.double())
    mean = p.mean(0)
    e, v = torch.linalg.eigh(torch.cov((p - mean).t()))
    zca = v @ torch.diag(1 / torch.sqrt(e + 0.1)) @ v.t()
    w = ((p - mean) @ zca).float()
    gen = torch.Generator().manual_seed(int(rng.integers(1 << 31)))
    centroids = w[torch.randperm(len(w), generator=gen)[:k]].clone()
    for _ in range(iterations):
        sq = (centroids ** 2).sum(1)
        assign = torch.cat([(sq - 2 * w[i:i + 20000] @ centroids.t()).argmin(1) for i in range(0, len(w), 20000)])
        sums = torch.zeros_like(centroids).index_add_(0, assign, w)
        counts = torch.bincount(assign, minlength=k)
        centroids = torch.where((counts > 0).unsqueeze(1), sums / counts.clamp(min=1).unsqueeze(1).float(), centroids)
    print(f'k-means, {k} centroids from {len(w)} patches: {time.time() - t0:.0f} s', flush=True)
    return {'centroids': F.normalize(centroids, dim=1), 'zca': zca.float(), 'mean': mean.float()}


def features(model, u8, batch=250):
    """N x H x W x 3 uint8 -> N x 4K float64 (H = W = 32)."""
    out = []
    c = model['centroids']
    with torch.no_grad():
        for i in range(0, len(u8), batch):
            x = torch.from_numpy(u8[i:i + batch]).permute(0, 3, 1, 2).float()
            side = x.shape[2] - PATCH + 1
            p = normalise(F.unfold(x, PATCH).permute(0, 2, 1).reshape(-1, c.shape[1]))
            f = F.relu(((p - model['mean']) @ model['zca']) @ c.t() - THRESHOLD).reshape(len(x), side, side, -1)
            h = (side + 1) // 2
            quads = [f[:, :h, :h], f[:, :h, side - h:], f[:, side - h:, :h], f[:, side - h:, side - h:]]
            out.append(torch.cat([q.sum((1, 2)) for q in quads], 1).double().numpy())
    return np.concatenate(out)
