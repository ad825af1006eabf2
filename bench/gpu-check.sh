#!/usr/bin/env bash
# bench/gpu-check.sh — run ragged's GPU tests on the GPU machine.
#
# Run from the repo root on the GPU machine, with a build folder made by
# bench/build-gpu.sh carried along. Prints what the machine is, then runs the
# test binaries (the CUDA tests run there instead of skipping) and writes the
# whole log to $OUT/gpu-check.log when OUT is set. Exits non-zero when a test
# binary fails.
#
# The int8 all-MiniLM-L6 whole-model test reads .gpu-models/all-MiniLM-L6-v2-int8.onnx
# (ignored by git): copy models/cache/all-MiniLM-L6-v2-int8/model.onnx there on the
# development machine (`bench/gpu-check.sh --stage-models` does) and carry .gpu-models.
# After the test binaries, compute-sanitizer's memcheck runs over one whole-model
# GPU test (BERT L2, fp16) and over the sm_90a attention and GEMM kernels' tests;
# their ERROR SUMMARY lines are in the log.
#
# One call of the GPU machine is at most 10 minutes and the whole check takes
# longer, so RG_GPU_CHECK_PART=tests runs only the test binaries and
# RG_GPU_CHECK_PART=sanitizer only the memcheck runs (default: both).
#
# Usage: bench/gpu-check.sh [build-dir]   (default build-gpu)
#        bench/gpu-check.sh --stage-models
set -uo pipefail
if [ "${1:-}" = --stage-models ]; then
    mkdir -p .gpu-models
    cp models/cache/all-MiniLM-L6-v2-int8/model.onnx .gpu-models/all-MiniLM-L6-v2-int8.onnx && ls -l .gpu-models
    exit $?
fi
build=${1:-build-gpu}
log=/dev/null
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    log="$OUT/gpu-check.log"
fi
export RG_SOURCE_DIR=$PWD RG_BINARY_DIR=$PWD/$build
# Belt and braces next to the binaries' rpath: the copied libraries and CUDA's.
export LD_LIBRARY_PATH="$PWD/$build/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

(
    status=0
    echo "== gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi failed"
    ls /usr/local/cuda/lib64/libcudart.so* /usr/local/cuda/lib64/libnvrtc.so* 2>&1
    part=${RG_GPU_CHECK_PART:-all}
    [ "$part" = sanitizer ] || for t in tests/codegen/test_codegen tests/runtime/test_runtime; do
        bin="$build/$t"
        echo "== $t"
        if [ ! -x "$bin" ]; then
            echo "missing: $bin (run bench/build-gpu.sh first)"
            status=1
            continue
        fi
        "$bin" --jobs 1 --verbose 2>&1 || { echo "FAILED: $t"; status=1; }
    done
    sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
    echo "== compute-sanitizer memcheck: cuda_exec/bert_L2_classic_o17 (fp16)"
    if [ "$part" = tests ]; then
        echo "== compute-sanitizer: skipped (RG_GPU_CHECK_PART=tests)"
    elif [ -x "$sanitizer" ] && [ -x "$build/tests/runtime/test_runtime" ]; then
        RG_GPU_TEST_DTYPE=fp16 "$sanitizer" --tool memcheck --target-processes all --error-exitcode 3 \
            "$build/tests/runtime/test_runtime" --jobs 1 --verbose --filter 'cuda_exec/bert_L2_classic_o17' 2>&1 |
            grep -E "ERROR SUMMARY|Tested|Synthesis|max rel|Invalid|========= [A-Z]" | head -60
        [ "${PIPESTATUS[0]}" = 0 ] || { echo "FAILED: compute-sanitizer"; status=1; }
        echo "== compute-sanitizer memcheck: cuda_attention/wgmma_matches_reference (the sm_90a kernels)"
        "$sanitizer" --tool memcheck --target-processes all --error-exitcode 3 "$build/tests/runtime/test_runtime" --jobs 1 \
            --filter 'cuda_attention/wgmma_matches_reference' 2>&1 | grep -E "ERROR SUMMARY|Synthesis|========= [A-Z]" | head -40
        [ "${PIPESTATUS[0]}" = 0 ] || { echo "FAILED: compute-sanitizer (wgmma attention)"; status=1; }
        echo "== compute-sanitizer memcheck: cuda_gemm/matches_reference (the sm_90a GEMM, every tile)"
        "$sanitizer" --tool memcheck --target-processes all --error-exitcode 3 "$build/tests/runtime/test_runtime" --jobs 1 \
            --filter 'cuda_gemm/matches_reference' 2>&1 | grep -E "ERROR SUMMARY|Synthesis|========= [A-Z]" | head -40
        [ "${PIPESTATUS[0]}" = 0 ] || { echo "FAILED: compute-sanitizer (wgmma GEMM)"; status=1; }
    else
        echo "compute-sanitizer not found: skipped"
    fi
    echo "== gpu-check done: $([ $status = 0 ] && echo PASS || echo FAIL)"
    exit $status
) 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
