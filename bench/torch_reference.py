#!/usr/bin/env python3
"""PyTorch reference for the HFF speed benchmark (bench/SPEED.md).

The same network and local loss as node-red-contrib-hff's engines: per layer, the input is detached (and
L2-normalised at the first layer), h = relu(x W + b), z = h / max(||h||, 1e-12), cos = z normalize(P)^T,
softmax cross-entropy of cos / tau averaged over the batch; each layer takes its own Adam step (lr 1e-3) and its
prototypes are re-normalised. Inference is one forward pass to the final layer's cosine scores and their argmax.

With --input-shape HxWxC the layers are a stack as `hff train --layers` writes it (c<filters>k<kernel>[p<pool>]
blocks, then dense widths) on images, each block as src/engines/maths/conv2d.ts defines it: the images as they are
(no centring or normalisation), h = relu(conv_k(x) + b) with stride 1 and 'same' zero padding, pooled =
maxpool_p(h) (floor), g = mean of pooled over positions, z = g / max(||g||, 1e-12) scored by the same loss; what
the block passes up is pooled made unit length per image. --infer-shapes adds batch-1 inference at other image
sizes (the same weights: a block's are independent of the image size).

    python3 bench/torch_reference.py [--threads 1] [--json]
    python3 bench/torch_reference.py --layers c32k3p2,c64k3p2,c128k3p2 --input-shape 32x32x3 --batch 128 \
        --infer-shapes 64x64x3,224x224x3

Prints medians in milliseconds: training step (batch 256), inference batch 1, batch 64 per image.
"""
import argparse
import json
import os
import statistics
import sys
import time


def parse_shape(text):
    dims = [int(v) for v in text.lower().split('x')]
    if len(dims) != 3 or min(dims) < 1:
        raise SystemExit(f'{text}: expected an image shape HxWxC such as 32x32x3')
    return dims


def parse_stack(text):
    """`hff train --layers` syntax: c<filters>k<odd kernel>[p<pool>] blocks and dense widths."""
    import re
    stack = []
    for part in filter(None, re.split(r'[\s,]+', text)):
        m = re.fullmatch(r'c(\d+)k(\d+)(?:p(\d+))?', part)
        if m:
            stack.append(('conv', int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)))
        elif part.isdigit():
            stack.append(('dense', int(part)))
        else:
            raise SystemExit(f"'{part}' is not a layer: expected c<filters>k<kernel>[p<pool>] or a width")
    return stack


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--threads', type=int, default=1, help='torch intra-op threads (default 1)')
    ap.add_argument('--layers', default='784,1000,1000,1000',
                    help='input size and layer widths; with --input-shape, the layer stack (c32k3p2,...,256)')
    ap.add_argument('--input-shape', help='images of HxWxC: the first layer takes them as maps')
    ap.add_argument('--infer-shapes', default='', help='other HxWxC image sizes to time batch-1 inference at')
    ap.add_argument('--infer-budget-ms', type=float, default=1500,
                    help='time to spend on each --infer-shapes series (at least 5, at most --infer-runs calls)')
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
    tau = args.tau
    k = args.classes
    shape = parse_shape(args.input_shape) if args.input_shape else None
    if shape:
        stack = parse_stack(args.layers)
        input_size = shape[0] * shape[1] * shape[2]
    else:
        sizes = [int(s) for s in args.layers.split(',')]
        stack = [('dense', h) for h in sizes[1:]]
        input_size = sizes[0]

    def prototypes(width):
        return F.normalize(torch.randn(k, width), dim=1).requires_grad_()

    # Per layer: (kind, parameters, forward(x) -> (z, passed up), optimiser).
    layers = []
    channels, width = (shape[2], None) if shape else (None, input_size)
    spatial = (shape[0], shape[1]) if shape else None
    for i, layer in enumerate(stack):
        if layer[0] == 'conv':
            _, filters, kernel, pool = layer
            fan_in = kernel * kernel * channels
            w = (torch.randn(filters, channels, kernel, kernel) * (2.0 / fan_in) ** 0.5).requires_grad_()
            b = torch.zeros(filters, requires_grad=True)
            p = prototypes(filters)

            def forward(x, w=w, b=b, kernel=kernel, pool=pool):
                h = torch.relu(F.conv2d(x, w, b, padding=(kernel - 1) // 2))
                pooled = F.max_pool2d(h, pool) if pool > 1 else h
                g = pooled.mean(dim=(2, 3))
                z = g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)
                # the unit pooled maps go up as maps (NCHW), the layout the next block convolves
                up = pooled.detach()
                up = up / up.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
                return z, up
            channels = filters
            spatial = (spatial[0] // pool, spatial[1] // pool)
            width = filters * spatial[0] * spatial[1]
        else:
            _, units = layer
            w = (torch.randn(width, units) * (2.0 / width) ** 0.5).requires_grad_()
            b = torch.zeros(units, requires_grad=True)
            p = prototypes(units)

            def forward(x, w=w, b=b, first=(i == 0)):
                x = x.flatten(1)
                if first:
                    x = F.normalize(x, dim=1, eps=1e-12)
                h = torch.relu(torch.addmm(b, x, w))
                z = h / h.norm(dim=1, keepdim=True).clamp_min(1e-12)
                return z, z
            width = units
        opt = torch.optim.Adam([w, b, p], lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
        layers.append((forward, p, opt))

    def train_step(x, y):
        for forward, p, opt in layers:
            opt.zero_grad(set_to_none=True)
            z, up = forward(x.detach())
            cos = z @ F.normalize(p, dim=1).t()
            loss = F.cross_entropy(cos / tau, y)
            loss.backward()
            opt.step()
            with torch.no_grad():
                p.copy_(F.normalize(p, dim=1))
            x = up.detach()

    def infer(x):
        with torch.inference_mode():
            for forward, p, _ in layers:
                z, x = forward(x)
            scores = z @ p.t()
            return scores, scores.argmax(dim=1)

    def images(n, dims, generator):
        if not dims:
            return torch.rand(n, input_size, generator=generator)
        # HWC rows as the engines take them, as NCHW maps
        return torch.rand(n, dims[0], dims[1], dims[2], generator=generator).permute(0, 3, 1, 2).contiguous()

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
    x = images(args.batch, shape, gen)
    y = torch.arange(args.batch) % k
    train_ms, train_times = median_ms(lambda: train_step(x, y), args.train_steps, 3, 'train')
    x1 = x[:1].clone()
    infer1_ms, infer1_times = median_ms(lambda: infer(x1), args.infer_runs, 20, 'infer1')
    x64 = x[:64].clone()
    infer64_ms, infer64_times = median_ms(lambda: infer(x64), args.infer64_runs, 5, 'infer64')
    other_shapes = {}
    for text in filter(None, args.infer_shapes.split(',')):
        xs = images(1, parse_shape(text), gen)
        t0 = time.perf_counter()
        infer(xs)
        once = (time.perf_counter() - t0) * 1000
        runs = max(5, min(args.infer_runs, int(args.infer_budget_ms / max(once, 1e-3))))
        _, times = median_ms(lambda: infer(xs), runs, 2, 'infer1:' + text)
        other_shapes[text] = {'samples_ms': times, 'cpu_samples_ms': cpu_ms['infer1:' + text]}

    result = {
        'engine': f'pytorch-{torch.__version__}',
        'torch': torch.__version__,
        'threads': args.threads,
        'blas_threads_env': os.environ.get('OPENBLAS_NUM_THREADS'),
        'layers': args.layers,
        'input_shape': args.input_shape,
        'infer_shapes': other_shapes,
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
        print(f"PyTorch {torch.__version__}, {args.threads} thread(s), {args.input_shape or ''} {args.layers}, {k} classes")
        print(f"  training step (batch {args.batch}): {train_ms:.1f} ms")
        print(f"  inference batch 1: {infer1_ms:.3f} ms")
        print(f"  inference batch 64: {infer64_ms / 64:.4f} ms per image")
        for text, r in other_shapes.items():
            print(f"  inference batch 1 at {text}: {statistics.median(r['samples_ms']):.3f} ms")
    return 0


if __name__ == '__main__':
    sys.exit(main())
