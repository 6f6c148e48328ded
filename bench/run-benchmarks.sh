#!/bin/sh
# The runs behind bench/RESULTS.md (each prints JSON lines on stdout, progress and the markdown table on stderr).
# Run from the project root after `npm run build`. DATA defaults to ../shared/data. The comparison runs use one
# core (tfjs-wasm is single-threaded); the HFF-only runs at the default budget ran beside them on the other core.
set -e
DATA=${HFF_DATA:-../shared/data}
OUT=${OUT:-bench/runs}
mkdir -p "$OUT"
run() {
  name=$1; shift
  echo "== $name: npx hff bench $*" >&2
  npx hff bench "$@" --json > "$OUT/$name.jsonl" 2> "$OUT/$name.log"
}
# All three methods, same backend, 3 epochs (library defaults otherwise: cosine learning-rate schedule).
run mnist          --dataset mnist         --data "$DATA/mnist"         --methods hff,ff,bp --epochs 3 --backend wasm
run fashion-mnist  --dataset fashion-mnist --data "$DATA/fashion-mnist" --methods hff,ff,bp --epochs 3 --backend wasm
run cifar10        --dataset cifar10       --data "$DATA/cifar10-jpg"   --methods hff,ff,bp --epochs 3 --backend wasm
# Issue 20: the HFF CNN and the same-size backprop CNN, both on onnxruntime, one thread:
HFF_ONNX_THREADS=1 run cifar10-conv-bench-c32-c64-c128-4 --dataset cifar10 --data "$DATA/cifar10-jpg" --methods hff,bp --layers c32k3p2,c64k3p2,c128k3p2 --epochs 4 --backend onnx
# HFF alone at the default budget, on the onnx engine, one thread.
export HFF_ONNX_THREADS=1
run fashion-mnist-hff-12-cosine --dataset fashion-mnist --data "$DATA/fashion-mnist" --methods hff --epochs 12 --backend onnx
run mnist-hff-12-cosine         --dataset mnist         --data "$DATA/mnist"         --methods hff --epochs 12 --backend onnx
run cifar10-hff-20-cosine       --dataset cifar10       --data "$DATA/cifar10-jpg"   --methods hff --epochs 20 --backend onnx
# This session's defaults for colour images (centring, shifts and mirrors) and the MNIST recipe:
run cifar10-hff-30-defaults     --dataset cifar10       --data "$DATA/cifar10-jpg"   --methods hff --epochs 30 --backend onnx
run mnist-hff-30-dropout-shift  --dataset mnist         --data "$DATA/mnist"         --methods hff --epochs 30 --backend onnx --shift 1 --input-dropout 0.2 --hidden-dropout 0.5
run mnist-hff-40-dropout-shift  --dataset mnist         --data "$DATA/mnist"         --methods hff --epochs 40 --backend onnx --shift 1 --input-dropout 0.2 --hidden-dropout 0.5
run mnist-hff-40-dropout-shift-seed2 --dataset mnist    --data "$DATA/mnist"         --methods hff --epochs 40 --backend onnx --shift 1 --input-dropout 0.2 --hidden-dropout 0.5 --seed 2
run mnist-hff-30-dropout03-shift --dataset mnist        --data "$DATA/mnist"         --methods hff --epochs 30 --backend onnx --shift 1 --input-dropout 0.3 --hidden-dropout 0.5
run fashion-mnist-hff-20-dropout-shift --dataset fashion-mnist --data "$DATA/fashion-mnist" --methods hff --epochs 20 --backend onnx --shift 1 --input-dropout 0.2 --hidden-dropout 0.5
# Session 5: the handwriting recipe (shifts, turns and resizing of the training images), three seeds, and its variants.
HAND="--shift 1 --rotate 10 --scale 0.1"
run mnist-hff-30-affine         --dataset mnist         --data "$DATA/mnist"         --methods hff --epochs 30 --backend onnx $HAND --seed 1
run mnist-hff-30-affine-seed2   --dataset mnist         --data "$DATA/mnist"         --methods hff --epochs 30 --backend onnx $HAND --seed 2
run mnist-hff-30-affine-seed3   --dataset mnist         --data "$DATA/mnist"         --methods hff --epochs 30 --backend onnx $HAND --seed 3
run mnist-hff-20-affine         --dataset mnist         --data "$DATA/mnist"         --methods hff --epochs 20 --backend onnx $HAND --seed 1
run mnist-hff-30-affine-dropout --dataset mnist         --data "$DATA/mnist"         --methods hff --epochs 30 --backend onnx $HAND --input-dropout 0.2 --hidden-dropout 0.5 --seed 1
run mnist-hff-30-affine-dropout-seed2 --dataset mnist   --data "$DATA/mnist"         --methods hff --epochs 30 --backend onnx $HAND --input-dropout 0.2 --hidden-dropout 0.5 --seed 2
run mnist-hff-30-affine-lightdropout-seed2 --dataset mnist --data "$DATA/mnist"      --methods hff --epochs 30 --backend onnx $HAND --input-dropout 0.1 --hidden-dropout 0.3 --seed 2
run fashion-mnist-hff-30-affine --dataset fashion-mnist --data "$DATA/fashion-mnist" --methods hff --epochs 30 --backend onnx $HAND --seed 1
# The backprop MLP at 30 epochs on the plain images (tfjs-wasm, about 50 minutes; the recorded run was given $HAND
# when those flags were still HFF-only, which is the same as giving none), and on the changed images, 20 epochs:
run mnist-bp-30-plain           --dataset mnist         --data "$DATA/mnist"         --methods bp  --epochs 30 --backend wasm --seed 1
run mnist-bp-20-affine          --dataset mnist         --data "$DATA/mnist"         --methods bp  --epochs 20 --backend wasm $HAND --seed 1
unset HFF_ONNX_THREADS
# Latency on the idle machine (run alone; 5,000 training images, one epoch: only the latency columns matter).
run latency-idle-1 --dataset mnist         --data "$DATA/mnist"         --limit 5000 --epochs 1 --backend wasm
run latency-idle-2 --dataset mnist         --data "$DATA/mnist"         --limit 5000 --epochs 1 --backend wasm
run latency-idle-3 --dataset mnist         --data "$DATA/mnist"         --limit 5000 --epochs 1 --backend wasm
run latency-idle-4 --dataset mnist         --data "$DATA/mnist"         --limit 5000 --epochs 1 --backend wasm
run latency-idle-5 --dataset mnist         --data "$DATA/mnist"         --limit 5000 --epochs 1 --backend wasm
# Again with the models timed in blocks of 20 calls (TIMING_BLOCK; runs 1-5 used blocks of 5):
run latency-idle-6 --dataset mnist         --data "$DATA/mnist"         --limit 5000 --epochs 1 --backend wasm
run latency-idle-7 --dataset mnist         --data "$DATA/mnist"         --limit 5000 --epochs 1 --backend wasm
run latency-idle-8 --dataset mnist         --data "$DATA/mnist"         --limit 5000 --epochs 1 --backend wasm
# Few-shot teaching (bench/TEACH.md): base model on classes 0-4 (30 epochs for CIFAR-10, 2 for the grey sets),
# classes 5-9 taught from 1 and 5 images.
teach() {
  name=$1; shift
  echo "== $name: npx hff bench-teach $*" >&2
  npx hff bench-teach "$@" --base-classes 0-4 --shots 1,5 --seeds 3 --backend onnx --save-model "${TMPDIR:-/tmp}/$name-base" --json > "$OUT/$name.jsonl" 2> "$OUT/$name.log"
}
export HFF_ONNX_THREADS=1 HFF_TEACH_MAX_TRAINED_LOSS=0.0025,0.01,0.02,0.05
teach teach-cifar10       --dataset cifar10       --data "$DATA/cifar10-jpg"
teach teach-fashion-mnist --dataset fashion-mnist --data "$DATA/fashion-mnist"
teach teach-mnist         --dataset mnist         --data "$DATA/mnist"
unset HFF_TEACH_MAX_TRAINED_LOSS
# 10 shot draws on the base models those runs trained and saved:
npx hff bench-teach --dataset cifar10 --data "$DATA/cifar10-jpg" --model "${TMPDIR:-/tmp}/teach-cifar10-base" --shots 5 --seeds 10 --backend onnx --json \
  > "$OUT/teach-cifar10-10draws.jsonl" 2> "$OUT/teach-cifar10-10draws.log"
npx hff bench-teach --dataset fashion-mnist --data "$DATA/fashion-mnist" --model "${TMPDIR:-/tmp}/teach-fashion-mnist-base" --shots 5 --seeds 10 --backend onnx --json \
  > "$OUT/teach-fashion-mnist-10draws.jsonl" 2> "$OUT/teach-fashion-mnist-10draws.log"
unset HFF_ONNX_THREADS
# The older one-epoch CIFAR-10 comparison (before the cosine schedule and the one-call forward):
# run cifar10-1epoch --dataset cifar10 --data "$DATA/cifar10-jpg" --methods hff,ff,bp --epochs 1 --backend wasm
# Exploration behind the defaults (its own training loop, one line per epoch), for example:
#   HFF_ONNX_THREADS=1 node bench/epoch-sweep.js cifar10 25 '{"norm":"zscore","flip":1,"shift":2}'
#   HFF_ONNX_THREADS=1 node bench/epoch-sweep.js mnist 20 '{"pin":0.2,"ph":0.5,"shift":1}'
