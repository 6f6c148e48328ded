"""Trains a small CNN with backprop on some CIFAR-10 classes and exports its trunk (pixels -> pooled features) to ONNX.

usage: /usr/bin/python3 train.py --classes 0-4 --epochs 15 --out /work/notes/fs/cnn-c5
Writes OUT.onnx (input 'image' N x 3 x H x W float32 RGB in [0,1], output 'features' N x D), OUT.pt and OUT.json.
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import Net, load

torch.set_num_threads(1)


def parse_classes(text):
    a, b = text.split('-')
    return list(range(int(a), int(b) + 1))


def augment(x, rng):
    """Random 32x32 crops of the 4-pixel reflect-padded batch, and random mirrors."""
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4), mode='reflect')
    dy = rng.integers(0, 9, n)
    dx = rng.integers(0, 9, n)
    out = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    flip = torch.from_numpy(rng.random(n) < 0.5)
    out[flip] = out[flip].flip(3)
    return out


def to_tensor(u8):
    return torch.from_numpy(u8).permute(0, 3, 1, 2).float().div_(255)


def evaluate(net, x, y):
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 500):
            xb = to_tensor(x[i:i + 500]).contiguous(memory_format=torch.channels_last)
            correct += (net(xb).argmax(1).numpy() == y[i:i + 500]).sum()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--classes', default='0-4')
    ap.add_argument('--epochs', type=int, default=15)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--lr', type=float, default=0.1)
    ap.add_argument('--widths', default='32,64,128,256')
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    classes = parse_classes(a.classes)
    widths = tuple(int(w) for w in a.widths.split(','))
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    xtr, ytr, names = load('cifar10-32', 'train')
    xte, yte, _ = load('cifar10-32', 'test')
    keep = np.isin(ytr, classes)
    xtr, ytr = xtr[keep], ytr[keep]
    keep = np.isin(yte, classes)
    xte, yte = xte[keep], yte[keep]
    remap = {c: i for i, c in enumerate(classes)}
    ytr = np.array([remap[v] for v in ytr])
    yte = np.array([remap[v] for v in yte])
    # Statistics from the training classes only, so classes 5-9 leave no trace in a 0-4 network.
    mean = (xtr.reshape(-1, 3).mean(0) / 255).tolist()
    std = (xtr.reshape(-1, 3).std(0) / 255).tolist()
    print(f'classes {[names[c] for c in classes]}: {len(xtr)} train, {len(xte)} test; mean {mean} std {std}', flush=True)

    net = Net(len(classes), mean, std, widths).to(memory_format=torch.channels_last)
    steps_per_epoch = len(xtr) // a.batch
    opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, epochs=a.epochs, steps_per_epoch=steps_per_epoch, pct_start=0.25)
    log = []
    cpu0 = time.process_time()
    wall0 = time.time()
    for epoch in range(a.epochs):
        net.train()
        t0 = time.process_time()
        order = rng.permutation(len(xtr))
        total = 0.0
        for s in range(steps_per_epoch):
            idx = order[s * a.batch:(s + 1) * a.batch]
            xb = augment(to_tensor(xtr[idx]), rng).contiguous(memory_format=torch.channels_last)
            yb = torch.from_numpy(ytr[idx])
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        epoch_cpu = time.process_time() - t0
        acc = evaluate(net, xte, yte) if epoch % 5 == 4 or epoch == a.epochs - 1 else None
        log.append({'epoch': epoch + 1, 'loss': total / steps_per_epoch, 'cpu_s': epoch_cpu, 'test_acc': acc})
        print(f'epoch {epoch + 1}: loss {total / steps_per_epoch:.4f}, {epoch_cpu:.1f} s CPU' + (f', test {acc:.4f}' if acc is not None else ''), flush=True)
    train_cpu = time.process_time() - cpu0
    acc = log[-1]['test_acc']

    net.eval()
    torch.save(net.state_dict(), a.out + '.pt')
    trunk = net.trunk.float().to(memory_format=torch.contiguous_format)
    torch.onnx.export(
        trunk,
        torch.rand(1, 3, 32, 32),
        a.out + '.onnx',
        input_names=['image'],
        output_names=['features'],
        dynamic_axes={'image': {0: 'batch', 2: 'height', 3: 'width'}, 'features': {0: 'batch'}},
        opset_version=13,
        do_constant_folding=True,
    )
    info = {
        'onnx': a.out + '.onnx',
        'trained_classes': [names[c] for c in classes],
        'class_indices': classes,
        'widths': widths,
        'feature_dim': trunk.dim,
        'input': {'name': 'image', 'shape': ['batch', 3, 'height', 'width'], 'dtype': 'float32', 'layout': 'NCHW',
                  'channels': 'RGB', 'range': '[0,1] (pixel/255)', 'trained_size': [32, 32]},
        'output': {'name': 'features', 'shape': ['batch', trunk.dim]},
        'normalisation_inside_graph': {'mean': mean, 'std': std},
        'epochs': a.epochs,
        'test_accuracy': acc,
        'train_cpu_s': train_cpu,
        'train_wall_s': time.time() - wall0,
        'cpu_s_per_epoch': train_cpu / a.epochs,
        'log': log,
    }
    json.dump(info, open(a.out + '.json', 'w'), indent=1)
    print(json.dumps({k: v for k, v in info.items() if k != 'log'}), flush=True)


if __name__ == '__main__':
    main()
