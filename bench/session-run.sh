#!/usr/bin/env bash
# bench/session-run.sh — one GPU-machine call: tests, profiles, and the BERT table.
# Usage: bench/session-run.sh [check] [profile SHAPES DTYPES] [bert SHAPES DTYPES]
set -uo pipefail
build=${BUILD:-build-gpu}
export OUT=${OUT:-bench-out}
mkdir -p "$OUT"
while [ $# -gt 0 ]; do
    case "$1" in
    check) bash bench/gpu-check.sh "$build" > /dev/null 2>&1; tail -40 "$OUT/gpu-check.log" | grep -E "Synthesis|ERROR SUMMARY|FAIL|==" ; shift ;;
    profile) ITERS=${ITERS:-30} bash bench/profile-bert.sh "$build" "$2" "$3" > "$OUT/profile.log" 2>&1; tail -5 "$OUT/profile.log"; shift 3 ;;
    bert) python3 bench/bert.py --ragged "$build/ragged" --plans "${RG_BENCH_MODELS:-/tmp/rg-bench-models}" --shapes "$2" --dtypes "$3" --out "$OUT" > "$OUT/bert.log" 2>&1; tail -30 "$OUT/bert.log"; shift 3 ;;
    *) echo "unknown step $1"; exit 2 ;;
    esac
done
