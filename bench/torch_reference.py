#!/usr/bin/env python3
"""PyTorch reference for the HFF speed benchmark (bench/SPEED.md).

The same network and local loss as node-red-contrib-hff's engines: per layer, the input is detached (and
L2-normalised at the first layer), h = relu(x W + b), z = h / max(||h||, 1e-12), cos = z normalize(P)^T,
softmax cross-entropy of cos / tau averaged over the batch; each layer takes its own Adam step (lr 1e-3) and its
prototypes are re-normalised. Inference is one forward pass to the final layer's cosine scores and their argmax.

    python3 bench/torch_reference.py [--threads 1] [--json]

Prints medians in milliseconds: training step (batch 256), inference batch 1, batch 64 per image.
"""
import argparse
import json
import os
import statistics
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--threads', type=int, default=1, help='torch intra-op threads (default 1)')
    ap.add_argument('--layers', default='784,1000,1000,1000', help='input size and layer widths')
    ap.add_argument('--classes', type=int, default=10)
    ap.add_argument('--batch', type=int, default=256, help='training batch')
    ap.add_argument('--train-steps', type=int, default=15, help='timed training steps')
    ap.add_argument('--infer-runs', type=int, default=200, help='timed batch-1 inferences')
    ap.add_argument('--infer64-runs', type=int, default=40, help='timed batch-64 inferences')
    ap.add_argument('--tau', type=float, default=0.1)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--json', action='store_true', help='one JSON object on stdout')
    args = ap.parse_args()

    # Debian's torch calls BLAS through libblas.so.3 (OpenBLAS here), whose own thread pool ignores
    # torch.set_num_threads: pin it (and OpenMP) to the requested count before torch loads.
    for var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ[var] = str(args.threads)
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(args.seed)
    sizes = [int(s) for s in args.layers.split(',')]
    tau = args.tau
    k = args.classes

    layers = []
    for d, h in zip(sizes[:-1], sizes[1:]):
        w = (torch.randn(d, h) * (2.0 / d) ** 0.5).requires_grad_()
        b = torch.zeros(h, requires_grad=True)
        p = F.normalize(torch.randn(k, h), dim=1).requires_grad_()
        opt = torch.optim.Adam([w, b, p], lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
        layers.append((w, b, p, opt))

    def layer_forward(i, x):
        w, b, p, _ = layers[i]
        if i == 0:
            x = F.normalize(x, dim=1, eps=1e-12)
        h = torch.relu(torch.addmm(b, x, w))
        z = h / h.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return z, p

    def train_step(x, y):
        for i, (_, _, p, opt) in enumerate(layers):
            opt.zero_grad(set_to_none=True)
            z, p = layer_forward(i, x.detach())
            cos = z @ F.normalize(p, dim=1).t()
            loss = F.cross_entropy(cos / tau, y)
            loss.backward()
            opt.step()
            with torch.no_grad():
                p.copy_(F.normalize(p, dim=1))
            x = z.detach()

    def infer(x):
        with torch.inference_mode():
            for i in range(len(layers)):
                z, p = layer_forward(i, x)
                x = z
            scores = z @ p.t()
            return scores, scores.argmax(dim=1)

    cpu_ms = {}

    def median_ms(fn, runs, warmup, key=None):
        for _ in range(warmup):
            fn()
        times = []
        cpu = []
        for _ in range(runs):
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        if key:
            cpu_ms[key] = cpu
        return statistics.median(times), times

    gen = torch.Generator().manual_seed(args.seed + 1)
    x = torch.rand(args.batch, sizes[0], generator=gen)
    y = torch.arange(args.batch) % k
    train_ms, train_times = median_ms(lambda: train_step(x, y), args.train_steps, 3, 'train')
    x1 = x[:1].clone()
    infer1_ms, infer1_times = median_ms(lambda: infer(x1), args.infer_runs, 20, 'infer1')
    x64 = x[:64].clone()
    infer64_ms, infer64_times = median_ms(lambda: infer(x64), args.infer64_runs, 5, 'infer64')

    result = {
        'engine': f'pytorch-{torch.__version__}',
        'torch': torch.__version__,
        'threads': args.threads,
        'blas_threads_env': os.environ.get('OPENBLAS_NUM_THREADS'),
        'layers': sizes,
        'classes': k,
        'batch': args.batch,
        'train_ms': train_ms,
        'infer1_ms': infer1_ms,
        'infer64_per_image_ms': infer64_ms / 64,
        'train_samples_ms': train_times,
        'infer1_samples_ms': infer1_times,
        'infer64_samples_ms': [t / 64 for t in infer64_times],
        # CPU time of the process (all threads) per call: on a shared machine, what the work costs without waiting.
        'cpu_train_samples_ms': cpu_ms['train'],
        'cpu_infer1_samples_ms': cpu_ms['infer1'],
        'cpu_infer64_samples_ms': [t / 64 for t in cpu_ms['infer64']],
        'loadavg': list(os.getloadavg()),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"PyTorch {torch.__version__}, {args.threads} thread(s), {'-'.join(map(str, sizes))}, {k} classes")
        print(f"  training step (batch {args.batch}): {train_ms:.1f} ms")
        print(f"  inference batch 1: {infer1_ms:.3f} ms")
        print(f"  inference batch 64: {infer64_ms / 64:.4f} ms per image")
    return 0


if __name__ == '__main__':
    sys.exit(main())
