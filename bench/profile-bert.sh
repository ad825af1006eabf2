#!/usr/bin/env bash
# bench/profile-bert.sh — where ragged's time goes on BERT-base, on the GPU machine.
#
# Exports BERT-base (classic exporter, opset 17) unless it is already there,
# compiles it for the GPU's arch in fp16 and fp32, and runs `ragged bench
# --breakdown --profile` on the given shapes: medians of the host work and
# the device copy in / kernels / copy out, then the device time per kind of
# node from one replay with an event after every node. Logs under $OUT.
#
# Usage: bench/profile-bert.sh [build-dir] [shapes] [dtypes]
#        (default build-gpu, 1x128,64x512, fp16,fp32; a dtype may carry suffixes:
#        fp16-approx is fp16 with --approximate-gelu, fp16-custom fp16 with --custom-gemm)
set -euo pipefail
build=${1:-build-gpu}
shapes=${2:-1x128,64x512}
dtypes=${3:-fp16,fp32}
out=${OUT:-bench-out}
mkdir -p "$out"
export LD_LIBRARY_PATH="$PWD/$build/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
models=${RG_BENCH_MODELS:-/tmp/rg-bench-models}
mkdir -p "$models"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d . | sed 's/^/sm_/')
name=bert-base_classic_o17
[ -f "$models/$name.onnx" ] || python3 models/export_hf.py --out "$models" --base --only "$name" 2>&1 | tail -2
for dtype in ${dtypes//,/ }; do
    # fp16-approx: fp16 with --approximate-gelu; fp16-custom: with --custom-gemm
    flags=(--dtype "${dtype%%-*}")
    case "$dtype" in *-approx*) flags+=(--approximate-gelu) ;; esac
    case "$dtype" in *-custom*) flags+=(--custom-gemm) ;; esac
    [ -f "$models/$name.$dtype.plan" ] ||
        "$build/ragged" compile "$models/$name.onnx" -o "$models/$name.$dtype.plan" --target "$arch" "${flags[@]}"
    echo "== $dtype"
    "$build/ragged" bench "$models/$name.$dtype.plan" --shapes "$shapes" --iters "${ITERS:-50}" --device cuda \
        --breakdown --profile 2>&1 | tee "$out/profile-$dtype.txt"
done
