#!/usr/bin/env bash
# bench/kernel-times.sh — how long each kernel of a BERT-base replay takes alone, on the GPU machine.
#
# Exports BERT-base (classic exporter) unless it is there, compiles it in fp16 (and with
# --custom-gemm on sm_90), prints `ragged bench --breakdown` (the replay's real time), then
# runs two iterations under Nsight Compute (clocks and caches left alone, every node of
# the CUDA graph profiled) and sums the last replay's kernels by kind
# (bench/kernel_times.py). Each kernel is timed alone, so the sum exceeds the replay's
# time; at batch 1 both are mostly per-kernel latency (docs/perf.md). Logs under $OUT.
#
# Usage: bench/kernel-times.sh [build-dir] [shapes]   (default build-gpu, 1x128)
set -euo pipefail
build=${1:-build-gpu}
shapes=${2:-1x128}
out=${OUT:-bench-out}
mkdir -p "$out"
export LD_LIBRARY_PATH="$PWD/$build/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ncu=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
models=${RG_BENCH_MODELS:-/tmp/rg-bench-models}
mkdir -p "$models"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d . | sed 's/^/sm_/')
name=bert-base_classic_o17
[ -f "$models/$name.onnx" ] || python3 models/export_hf.py --out "$models" --base --only "$name" 2>&1 | tail -1
variants=(fp16)
[ "$arch" = sm_90 ] && variants+=(fp16-custom)
for v in "${variants[@]}"; do
    flags=(--dtype fp16)
    [ "$v" = fp16-custom ] && flags+=(--custom-gemm)
    plan="$models/$name.$v.kt.plan"
    "$build/ragged" compile "$models/$name.onnx" -o "$plan" --target "$arch" "${flags[@]}" | tail -1
    for s in ${shapes//,/ }; do
        echo "== $v $s"
        "$build/ragged" bench "$plan" --shapes "$s" --iters 50 --device cuda --device-outputs --breakdown | grep breakdown
        "$ncu" --clock-control none --cache-control none --graph-profiling node --metrics gpu__time_duration.sum \
            --csv --print-units base "$build/ragged" bench "$plan" --shapes "$s" --iters 2 --warmup 1 --device cuda \
            --device-outputs > "$out/kernel-times-$v-$s.csv" 2> "$out/kernel-times-$v-$s.err"
        python3 bench/kernel_times.py "$out/kernel-times-$v-$s.csv"
    done
done
