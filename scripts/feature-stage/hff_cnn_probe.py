"""Issue 20 probe: how far does HFF's local learning take a CNN on CIFAR-10 when given what backprop CNNs get here?

The network is train.py's (conv3x3-BN-ReLU blocks of 32, 64, 128, 256 channels, max pooling after the first three),
which reaches 83.1% by backprop in 15 epochs (README, cnn-c10). Here every block is trained by its own HFF loss
only, with no gradient between blocks (its input is detached): its maps are average-pooled to a GRID x GRID grid,
flattened and normalised to unit length (z), and softmax cross-entropy runs over cos(z, p_k) / tau against learnt
unit prototypes, one per class. Same data, augmentation (4-pixel reflect-pad crops, mirrors), optimiser (SGD
Nesterov 0.9, one-cycle LR max 0.1, weight decay 5e-4 on the weights but not the prototypes), batch 128.
The library's conv blocks differ (no batch norm, grid 1, Adam 0.001): this measures whether those are what keeps
the engine from 80%.

    /usr/bin/python3 hff_cnn_probe.py --grid 2 --out /work/notes/s11/probe-g2-bn    # ~40 CPU-min, one thread
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import load
from train import augment, to_tensor


class Block(nn.Module):
    def __init__(self, cin, cout, pool, grid, tau, classes=10):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.pool, self.grid, self.tau = pool, grid, tau
        self.prototypes = nn.Parameter(torch.randn(classes, cout * grid * grid))

    def forward(self, x):
        h = F.relu(self.bn(self.conv(x)))
        return F.max_pool2d(h, 2) if self.pool else h

    def logits(self, h):
        z = F.normalize(F.adaptive_avg_pool2d(h, self.grid).flatten(1), dim=1)
        return z @ F.normalize(self.prototypes, dim=1).t() / self.tau


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--epochs', type=int, default=15)
    ap.add_argument('--lr', type=float, default=0.1)
    ap.add_argument('--widths', default='32,64,128,256')
    ap.add_argument('--grid', type=int, default=2)
    ap.add_argument('--tau', type=float, default=0.1)
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    xtr, ytr, _ = load('cifar10-32', 'train')
    xte, yte, _ = load('cifar10-32', 'test')
    mean = torch.tensor(xtr.reshape(-1, 3).mean(0) / 255, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(xtr.reshape(-1, 3).std(0) / 255, dtype=torch.float32).view(1, 3, 1, 1)
    widths = [int(w) for w in a.widths.split(',')]
    blocks = nn.ModuleList()
    cin = 3
    for i, w in enumerate(widths):
        blocks.append(Block(cin, w, i < len(widths) - 1, a.grid, a.tau))
        cin = w
    weights = [p for n, p in blocks.named_parameters() if 'prototypes' not in n]
    prototypes = [p for n, p in blocks.named_parameters() if 'prototypes' in n]
    steps = len(xtr) // 128
    opt = torch.optim.SGD([{'params': weights, 'weight_decay': 5e-4}, {'params': prototypes, 'weight_decay': 0}],
                          lr=a.lr, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, epochs=a.epochs, steps_per_epoch=steps, pct_start=0.25)

    def evaluate():
        """Test accuracy of each block's prototypes, and of the sum of every block's logits."""
        blocks.eval()
        correct = np.zeros(len(blocks))
        summed = 0
        with torch.no_grad():
            for i in range(0, len(xte), 500):
                h = (to_tensor(xte[i:i + 500]) - mean) / std
                y = yte[i:i + 500]
                total = 0
                for j, b in enumerate(blocks):
                    h = b(h)
                    logits = b.logits(h)
                    total = total + logits
                    correct[j] += (logits.argmax(1).numpy() == y).sum()
                summed += (total.argmax(1).numpy() == y).sum()
        blocks.train()
        return (correct / len(xte)).round(4).tolist(), round(summed / len(xte), 4)

    log = []
    cpu0 = time.process_time()
    for epoch in range(a.epochs):
        order = rng.permutation(len(xtr))
        t0 = time.process_time()
        losses = np.zeros(len(blocks))
        for s in range(steps):
            idx = order[s * 128:(s + 1) * 128]
            h = (augment(to_tensor(xtr[idx]), rng) - mean) / std
            y = torch.from_numpy(ytr[idx]).long()
            loss = 0
            for j, b in enumerate(blocks):
                h = b(h.detach())  # no gradient between blocks
                block_loss = F.cross_entropy(b.logits(h), y)
                loss = loss + block_loss
                losses[j] += block_loss.item()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        test = evaluate() if epoch % 3 == 2 or epoch == a.epochs - 1 else None
        log.append({'epoch': epoch + 1, 'loss': (losses / steps).round(4).tolist(), 'cpu_s': time.process_time() - t0,
                    'test_per_block_and_summed': test})
        print(json.dumps(log[-1]), flush=True)
    json.dump({'args': vars(a), 'log': log, 'cpu_s': time.process_time() - cpu0}, open(a.out + '.json', 'w'))


if __name__ == '__main__':
    main()
