#!/bin/sh
# The runs behind bench/RESULTS.md, one at a time (each prints JSON lines on stdout, progress and the markdown
# table on stderr). Run from the project root after `npm run build`. DATA defaults to ../shared/data.
set -e
DATA=${HFF_DATA:-../shared/data}
OUT=${OUT:-bench/runs}
mkdir -p "$OUT"
run() {
  name=$1; shift
  echo "== $name: npx hff bench $*" >&2
  nice -n 10 npx hff bench "$@" --json > "$OUT/$name.jsonl" 2> "$OUT/$name.log"
}
run quick-mnist   --dataset mnist         --data "$DATA/mnist"         --quick
run mnist         --dataset mnist         --data "$DATA/mnist"         --methods hff,ff,bp --epochs 3 --backend wasm
run fashion-mnist --dataset fashion-mnist --data "$DATA/fashion-mnist" --methods hff,ff,bp --epochs 3 --backend wasm
run cifar10-1epoch --dataset cifar10     --data "$DATA/cifar10-jpg"   --methods hff,ff,bp --epochs 1 --backend wasm
# The target budget, not run yet (about 110-155 s per method and epoch on an idle machine):
# run cifar10     --dataset cifar10       --data "$DATA/cifar10-jpg"   --methods hff,ff,bp --epochs 30 --backend wasm
