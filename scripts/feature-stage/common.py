"""Shared helpers: the decoded arrays written by decode.js, and the feature network."""
import json
import os

import numpy as np
import torch
import torch.nn as nn

DATA = os.environ.get('FS_DATA', '/work/notes/fs/data')


def load(tag, split):
    """uint8 images N x H x W x 3 (RGB, HWC) and int labels, in the product's reader order."""
    meta = json.load(open(os.path.join(DATA, f'{tag}.json')))
    m = meta[split]
    x = np.fromfile(os.path.join(DATA, f'{tag}-{split}.u8'), dtype=np.uint8).reshape(m['n'], m['height'], m['width'], 3)
    y = np.fromfile(os.path.join(DATA, f'{tag}-{split}.labels'), dtype=np.int32)
    return x, y, meta['classes']


def block(cin, cout, pool):
    layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return layers


class Trunk(nn.Module):
    """Image NCHW float32 RGB in [0,1] -> feature vector (global average pool of the last block)."""

    def __init__(self, mean, std, widths):
        super().__init__()
        # Per-channel statistics of the training images, baked into the graph so the file takes [0,1] pixels.
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        layers = []
        cin = 3
        for i, w in enumerate(widths):
            layers += block(cin, w, pool=i < len(widths) - 1)
            cin = w
        self.body = nn.Sequential(*layers)
        self.dim = cin

    def forward(self, x):
        x = (x - self.mean) / self.std
        return self.body(x).mean(dim=(2, 3))


class Net(nn.Module):
    def __init__(self, classes, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), widths=(32, 64, 128, 256)):
        super().__init__()
        self.trunk = Trunk(mean, std, widths)
        self.head = nn.Linear(self.trunk.dim, classes)

    def forward(self, x):
        return self.head(self.trunk(x))
