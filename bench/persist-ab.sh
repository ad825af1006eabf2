#!/usr/bin/env bash
# bench/persist-ab.sh — BERT-base with and without persistent launches, on the GPU machine.
#
# Exports BERT-base (classic exporter, opset 17) unless it is already there,
# compiles it with --persistent for the GPU's arch in the given dtypes, checks each plan with
# every run of nodes as one persistent launch (--persistent on) against
# PyTorch fp32 (bench/bert.py's accuracy check: 2 x 384 tokens, the second
# padded after 200), then times `ragged bench --device-outputs` with
# --persistent off, on and auto in alternating rounds, the same plans and
# inputs in one run. Prints a table of medians (device ms per run) and
# writes the JSON of every bench under $OUT.
#
# Last, `ragged bench --profile --persistent on` shows the time of each kind
# of step inside the persistent launches (PROFILE_SHAPES, default 1x128).
#
# Usage: bench/persist-ab.sh [build-dir] [shapes] [dtypes]
#        (default build-gpu, 1x16,1x128,1x512,8x128, fp16); ROUNDS (default 2), ITERS (default 50)
set -euo pipefail
build=${1:-build-gpu}
shapes=${2:-1x16,1x128,1x512,8x128}
dtypes=${3:-fp16}
out=${OUT:-bench-out}
mkdir -p "$out"
export LD_LIBRARY_PATH="$PWD/$build/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
models=${RG_BENCH_MODELS:-/tmp/rg-bench-models}
mkdir -p "$models"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d . | sed 's/^/sm_/')
name=bert-base_classic_o17
[ -f "$models/$name.onnx" ] || python3 models/export_hf.py --out "$models" --base --only "$name" 2>&1 | tail -2
for dtype in ${dtypes//,/ }; do
    [ -f "$models/$name.$dtype-persistent.plan" ] ||
        "$build/ragged" compile "$models/$name.onnx" -o "$models/$name.$dtype-persistent.plan" --target "$arch" --dtype "$dtype" --persistent
done
echo "== accuracy against PyTorch fp32, persistent launches on"
python3 - "$build/ragged" "$models" "$out" "$dtypes" <<'PY'
import os, sys
sys.path.insert(0, "bench")
import bert
binary, models, out, dtypes = sys.argv[1:5]
reference = bert.reference_outputs()
for dtype in dtypes.split(","):
    plan = os.path.join(models, f"bert-base_classic_o17.{dtype}-persistent.plan")
    for mode in ("off", "on"):
        print(f"  {dtype} --persistent {mode}: {bert.accuracy(binary, plan, out, reference, ('--persistent', mode))}",
              flush=True)
PY
rounds=${ROUNDS:-2}
for dtype in ${dtypes//,/ }; do
    for r in $(seq 1 "$rounds"); do
        for mode in off on auto; do
            "$build/ragged" bench "$models/$name.$dtype-persistent.plan" --shapes "$shapes" --iters "${ITERS:-50}" --device cuda \
                --device-outputs --persistent "$mode" --json > "$out/ab-$dtype-$mode-$r.json"
        done
    done
done
echo "== medians, ms per run (device outputs); persistent: whether the timed graph had persistent launches"
python3 - "$out" "$dtypes" "$rounds" <<'PY'
import json, sys
out, dtypes, rounds = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
for dtype in dtypes:
    print(f"{dtype}:")
    print("| shape | " + " | ".join(f"{m} r{r}" for r in range(1, rounds + 1) for m in ("off", "on", "auto")) +
          " | on / off |")
    print("|---" * (3 * rounds + 2) + "|")
    runs = {(m, r): json.load(open(f"{out}/ab-{dtype}-{m}-{r}.json")) for m in ("off", "on", "auto")
            for r in range(1, rounds + 1)}
    for i, s in enumerate(runs[("off", 1)]["shapes"]):
        cells, best = [], {}
        for r in range(1, rounds + 1):
            for m in ("off", "on", "auto"):
                x = runs[(m, r)]["shapes"][i]
                best[m] = min(best.get(m, 1e9), x["median_ms"])
                cells.append(f"{x['median_ms']:.4f}{' (pk)' if x.get('persistent') else ''}")
        print(f"| {s['batch']}x{s['seq']} | " + " | ".join(cells) + f" | {best['on'] / best['off']:.3f} |")
    x = runs[("on", 1)]["shapes"][0]
    print(f"persistent program and scratch: {x.get('persistent_bytes', 0) / 2**20:.2f} MiB")
PY
echo "== where a persistent launch's time goes (ragged bench --profile --persistent on)"
for dtype in ${dtypes//,/ }; do
    "$build/ragged" bench "$models/$name.$dtype-persistent.plan" --shapes "${PROFILE_SHAPES:-1x128}" --iters 20 --device cuda \
        --device-outputs --persistent on --profile 2>&1 | tee "$out/profile-persistent-$dtype.txt" |
        grep -E "persistent|profile|^[0-9]"
done
