#!/usr/bin/env bash
# bench/run-bert.sh — the BERT-base benchmark of issue 4, on the GPU machine.
#
# Exports BERT-base with random weights with both torch.onnx exporters
# (models/export_hf.py --base), compiles each with ragged for the GPU's arch
# in fp16 and fp32 (timing the compile), and runs bench/bert.py, which times
# ragged (`ragged bench --json`) next to PyTorch eager with SDPA, PyTorch
# replayed from a CUDA graph and torch.compile(mode="reduce-overhead") on the
# same shapes, and prints the table. Everything is written under $OUT
# (default bench-out/).
#
# Usage: bench/run-bert.sh [build-dir] [shapes]   (default build-gpu, the six shapes)
#        RG_BENCH_EXPORTERS=classic_o17 benchmarks one export only
set -euo pipefail
build=${1:-build-gpu}
shapes=${2:-1x16,1x128,1x512,8x128,32x128,64x512}
out=${OUT:-bench-out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
export LD_LIBRARY_PATH="$PWD/$build/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
models=${RG_BENCH_MODELS:-/tmp/rg-bench-models}
mkdir -p "$models"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d . | sed 's/^/sm_/')
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown) arch $arch" | tee "$out/run-bert.log"
for exporter in ${RG_BENCH_EXPORTERS:-classic_o17 dynamo_o18}; do
    name=bert-base_$exporter
    [ -f "$models/$name.onnx" ] || python3 models/export_hf.py --out "$models" --base --only "$name" 2>&1 | tail -2 | tee -a "$out/run-bert.log"
    for dtype in fp16 fp32; do
        "$build/ragged" compile "$models/$name.onnx" -o "$models/$name.$dtype.plan" --target "$arch" --dtype "$dtype" \
            2>&1 | tee -a "$out/run-bert.log"
    done
    # the opt-in tanh GELU, which runs in the GEMM's epilogue (its own column in the table)
    "$build/ragged" compile "$models/$name.onnx" -o "$models/$name.fp16-approx.plan" --target "$arch" --dtype fp16 \
        --approximate-gelu 2>&1 | tee -a "$out/run-bert.log"
    # the opt-in wgmma GEMM (Hopper only; its own column too)
    if [ "$arch" = sm_90 ]; then
        "$build/ragged" compile "$models/$name.onnx" -o "$models/$name.fp16-custom.plan" --target "$arch" \
            --dtype fp16 --custom-gemm 2>&1 | tee -a "$out/run-bert.log"
    fi
done
python3 bench/bert.py --ragged "$build/ragged" --plans "$models" --shapes "$shapes" --out "$out" 2>&1 | tee -a "$out/run-bert.log"
