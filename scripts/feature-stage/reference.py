"""Features of the first 16 Fruits-360 test images at 32x32 and 64x64 by the PyTorch trunk, for onnx-speed.js to
check the exported ONNX file against: PREFIX.ref32.f32 and PREFIX.ref64.f32 (16 x D float32).

usage: /usr/bin/python3 reference.py /work/notes/fs/cnn-c5
"""
import sys

import numpy as np
import torch

from common import load
from teach import cnn_features, load_net

torch.set_num_threads(1)
prefix = sys.argv[1]
net, _ = load_net(prefix)
for size in (32, 64):
    x, _, _ = load(f'fruits-{size}', 'test')
    cnn_features(net, x[:16]).astype(np.float32).tofile(f'{prefix}.ref{size}.f32')
print('wrote', prefix + '.ref32.f32', prefix + '.ref64.f32')
